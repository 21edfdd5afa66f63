"""Outputs are checked before any probe runs: --json, --junit and `report --out` go to a new or empty place, or
replace what verify wrote before, never a user's file; a missing folder or a file where a folder is needed is
exit 2 at once. TFM_CONFIG naming a missing file is exit 2 from every task."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from checks import outputs
from checks.errors import UsageError
from tests.conftest import ROOT, invoke

BUNDLE = ROOT / "tests" / "bundles" / "linux-x86_64"
PROBE_STARTED = "Running the TensorFlow probe"


def checks(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def refused(done: subprocess.CompletedProcess, words: str) -> None:
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1 and words in lines[0], done.stderr
    assert PROBE_STARTED not in done.stderr + done.stdout  # nothing ran


def user_file(path, text="my own notes\n"):
    path.write_text(text)
    return path


# The doors: `invoke verify` and `python -m checks` against the tools environment (nothing to probe is needed:
# each refusal comes before the first probe).
def test_json_in_a_missing_folder_is_refused_at_once(tmp_path):
    start = time.monotonic()
    done = invoke("verify", "--env", sys.prefix, "--json", str(tmp_path / "missing" / "x.json"))
    refused(done, "the folder %s does not exist" % (tmp_path / "missing"))
    assert time.monotonic() - start < 10  # a start of invoke, not a TensorFlow run
    refused(checks("--json", str(tmp_path / "missing" / "x.json")), "does not exist")


@pytest.mark.parametrize("flag", ["--json", "--junit"])
def test_a_users_file_is_never_overwritten(tmp_path, flag):
    mine = user_file(tmp_path / "notes.txt")
    refused(invoke("verify", "--env", sys.prefix, flag, str(mine)), "exists and was not written by verify")
    refused(checks(flag, str(mine)), "not overwriting it")
    assert mine.read_text() == "my own notes\n"


@pytest.mark.parametrize("flag", ["--json", "--junit"])
def test_a_folder_where_a_file_is_needed(tmp_path, flag):
    refused(invoke("verify", "--env", sys.prefix, flag, str(tmp_path)), "is a folder")


def test_report_out_a_file_is_refused_and_untouched(tmp_path):
    mine = user_file(tmp_path / "report")
    refused(invoke("report", "--env", sys.prefix, "--out", str(mine)), "--out %s is a file" % mine)
    assert mine.read_text() == "my own notes\n"


def test_report_out_a_folder_with_a_users_summary_is_refused_and_untouched(tmp_path):
    mine = user_file(tmp_path / "summary.md")
    refused(invoke("report", "--env", sys.prefix, "--out", str(tmp_path)), "not part of a bundle of ours (summary.md)")
    assert mine.read_text() == "my own notes\n" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.md"]


def test_report_out_in_a_missing_folder(tmp_path):
    refused(invoke("report", "--env", sys.prefix, "--out", str(tmp_path / "a" / "b")), "does not exist")
    assert not (tmp_path / "a").exists()


def test_a_bundle_of_ours_and_our_reports_are_replaced(tmp_path):
    """A second run into the same places replaces what the first wrote; a user's file beside them stops it."""
    out, js, junit = tmp_path / "bundle", tmp_path / "r.json", tmp_path / "r.xml"
    args = ("--replay", str(BUNDLE), "--record", str(out), "--json", str(out / "results.json"), "--junit", str(junit))
    for _ in range(2):
        done = checks(*args, "--json", str(js))
        assert done.returncode in (0, 1), done.stderr
    assert outputs.written_by_us(js, "--json") and outputs.written_by_us(junit, "--junit")
    assert (out / "summary.md").exists() and not outputs.bundle.foreign_files(out)
    user_file(out / "notes.txt")
    refused(checks(*args), "not part of a bundle of ours (notes.txt)")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert checks("--replay", str(BUNDLE), "--record", str(empty)).returncode in (0, 1)
    assert (empty / "bundle.json").exists()


def test_rules_one_by_one(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    outputs.check(json=str(empty), junit=str(tmp_path / "new.xml"), record=str(tmp_path / "new"))
    outputs.check(json=str(tmp_path / "new" / "results.json"), record=str(tmp_path / "new"))  # report's own JSON
    with pytest.raises(UsageError, match="name the same file"):
        outputs.check(json=str(tmp_path / "x"), junit=str(tmp_path / "x"))
    with pytest.raises(UsageError, match="does not exist"):
        outputs.check(json=str(tmp_path / "other" / "results.json"), record=str(tmp_path / "new"))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.json").write_text('{"format": 1}')  # not ours: no tool_version, no recorded_at
    with pytest.raises(UsageError, match="bundle.json"):
        outputs.check_bundle(str(tmp_path / "b"))


@pytest.mark.parametrize("task", [("verify", "--env", "/nonexistent"), ("matrix",), ("setup", "--profile", "gpu")])
def test_tfm_config_naming_a_missing_file_is_exit_2(tmp_path, task):
    missing = tmp_path / "tfmetal.json"
    done = invoke(*task, env=dict(os.environ, TFM_CONFIG=str(missing)))
    refused(done, "TFM_CONFIG names %s, which does not exist" % missing)
    done = checks("--replay", str(BUNDLE), env=dict(os.environ, TFM_CONFIG=str(missing)))
    refused(done, "TFM_CONFIG names")
