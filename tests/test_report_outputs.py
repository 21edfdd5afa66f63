"""What CI reads: the text of JUnit failures and their counts, GitHub annotations at their limit, a skip reason
printed once only when shared, and the checks' exit code passed through `invoke verify` unchanged."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from checks.model import Outcome, fail, pass_, skip, warn
from checks.registry import CHECKS
from checks.report import MAX_ANNOTATIONS, github_annotations, render_text, to_junit
from tests.conftest import ROOT

FIX = ".tools/bin/invoke setup --env /tmp/env  # repairs it in place from the lock"


def at(i: int, result) -> Outcome:
    return Outcome(CHECKS[i], result)


def test_a_junit_failure_carries_the_summary_as_message_and_details_and_fix_as_text():
    outcomes = [at(0, pass_("fine")),
                at(1, fail("2 of 40 pinned packages differ", FIX, details=["numpy 2.1.3 is missing", "more"])),
                at(2, warn("slow", "re-run")), at(3, skip("not a Mac"))]
    suite = ET.fromstring(to_junit(outcomes, 1.0)).find("testsuite")
    assert suite is not None
    (failure,) = suite.iter("failure")
    assert failure.get("message") == "2 of 40 pinned packages differ"
    assert failure.text == "\n".join(["2 of 40 pinned packages differ", "numpy 2.1.3 is missing", "more",
                                      "fix: " + FIX])
    (skipped,) = suite.iter("skipped")
    assert skipped.get("message") == "not a Mac"
    out = [e.text for e in suite.iter("system-out")]
    assert out == ["warning: slow\nfix: re-run"]


def test_junit_counts_failures_and_skips_not_warnings():
    outcomes = [at(0, pass_("fine")), at(1, warn("slow", "re-run")), at(2, warn("slower", None)),
                at(3, skip("not a Mac")), at(4, fail("bad", "fix it"))]
    root = ET.fromstring(to_junit(outcomes, 1.0))
    for element in (root, root.find("testsuite")):
        assert element is not None
        assert (element.get("tests"), element.get("failures"), element.get("errors"), element.get("skipped")) == \
            ("5", "1", "0", "1")


@pytest.mark.parametrize("n, notice", [(MAX_ANNOTATIONS, None), (MAX_ANNOTATIONS + 1, "::notice::1 more error(s)")])
def test_annotations_stop_at_the_limit_and_say_how_many_more(n, notice):
    lines = github_annotations([at(i, fail("bad %d" % i, None)) for i in range(n)])
    assert len([ln for ln in lines if ln.startswith("::error ")]) == MAX_ANNOTATIONS
    notices = [ln for ln in lines if ln.startswith("::notice::")]
    assert notices == ([] if notice is None else [notice + ": see the job summary"])


def test_a_skip_reason_shared_in_a_family_is_printed_once_and_a_lone_one_stays_on_its_line():
    matmul = [i for i, c in enumerate(CHECKS) if c.family == "matmul"]
    arch = [i for i, c in enumerate(CHECKS) if c.family == "architecture"]
    outcomes = [at(matmul[0], skip("no GPU", "no GPU")), at(matmul[1], skip("no GPU", "no GPU")),
                at(arch[0], skip("not a Mac", "not a Mac"))]
    out = io.StringIO()
    render_text(outcomes, "header", out, colour=False)
    text = out.getvalue()
    assert "      2 skipped: no GPU" in text and text.count("no GPU") == 1
    assert "%s: not a Mac" % CHECKS[arch[0]].title in text and "1 skipped" not in text


FAKE_PYTHON = "#!/bin/sh\nexit $FAKE_EXIT\n"


@pytest.mark.parametrize("child, code", [(0, 0), (1, 1), (2, 2), (130, 130), (141, 141), (3, 2)])
def test_invoke_verify_passes_the_checks_exit_code_through(tmp_path, child, code):
    """0 ok, 1 a check failed, 2 usage, 130 Ctrl-C, 141 a closed pipe pass through; anything else is a crash: 2."""
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "invoke", "verify", "--env", str(tmp_path / "env")], cwd=ROOT,
                          env=dict(os.environ, FAKE_EXIT=str(child)), capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == code, done.stderr
