"""The matrix parses, and every lock file matches it and carries hashes (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from checks import matrix, paths
from checks.matrix import MatrixError
from scripts import locks

ROOT = Path(__file__).resolve().parent.parent


def test_every_lock_exists_pins_its_target_and_has_hashes():
    m = matrix.load()
    expected = locks.all_locks(m)
    assert {p.name for _, _, p in expected} == {p.name for p in (ROOT / "envs" / "locks").glob("*.txt")}
    for target, _py, path in expected:
        pins = locks.pinned(path)
        for line in list(target.requirements) + list(m.common):
            req = Requirement(line)
            assert req.name in pins, (path.name, req.name)
            assert req.specifier.contains(pins[req.name], prereleases=True), (path.name, line, pins[req.name])
        assert locks.unhashed(path) == [], path.name
        assert "psutil" in pins and "packaging" in pins


def test_metal_locks_pin_the_verified_pair_for_3_9_to_3_12():
    for py in ("3.9", "3.10", "3.11", "3.12"):
        pins = locks.pinned(ROOT / "envs" / "locks" / ("metal-macos-arm64-py%s.txt" % py))
        assert (pins["tensorflow"], pins["tensorflow-metal"]) == ("2.19.1", "1.2.0")
        assert matrix.load().pair(pins["tensorflow"], pins["tensorflow-metal"]).status == "verified"


def test_unhashed_finds_a_requirement_without_hash(tmp_path):
    lock = tmp_path / "l.txt"
    lock.write_text("six==1.17.0 \\\n    --hash=sha256:%s\nwheel==0.48.0\n" % ("0" * 64))
    assert locks.unhashed(lock) == ["wheel==0.48.0"]


def test_cpu_profile_pins_the_same_tensorflow_minor_as_metal_on_apple_silicon_and_linux():
    m = matrix.load()
    minors = {t.platform + "/" + t.profile: ".".join(t.tensorflow_pin[1].split(".")[:2])
              for t in m.tensorflow_targets if t is m.target(t.profile, t.platform)}  # defaults, not 2.21.0
    assert minors["macos-arm64/metal"] == minors["linux-x86_64/cpu"] == minors["linux-aarch64/cpu"] == "2.19"


@pytest.mark.parametrize("mutate,words", [
    (lambda d: d.update(schema_version=9), "schema_version"),
    (lambda d: d["targets"][0].update(profile="gpu"), "unknown profile"),
    (lambda d: d["pairs"][0].update(status="works"), "status"),
    (lambda d: next(p for p in d["pairs"] if p["status"] == "broken").pop("error"), "needs its error"),
    (lambda d: d["targets"][0].update(python=">=3.x"), "matrix"),
    (lambda d: d.pop("targets"), "targets"),
])
def test_malformed_matrix_is_one_clear_error(tmp_path, mutate, words):
    data = json.loads(paths.MATRIX_PATH.read_text())
    mutate(data)
    bad = tmp_path / "matrix.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(MatrixError) as exc:
        matrix.load(bad)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_matrix_that_is_not_json(tmp_path):
    bad = tmp_path / "matrix.json"
    bad.write_text("{targets: oops")
    with pytest.raises(MatrixError, match="not valid JSON"):
        matrix.load(bad)


@pytest.mark.network
@pytest.mark.skipif(os.environ.get("TFM_CHECK_DRIFT") != "1",
                    reason="PyPI moves on its own: set TFM_CHECK_DRIFT=1 (a scheduled job) to fail on drifted locks")
def test_locks_have_not_drifted_from_pypi(tmp_path):
    """Re-resolve every lock with uv and FAIL on any pin that changed (needs PyPI; opt in with TFM_CHECK_DRIFT=1)."""
    m = matrix.load()
    drift = []
    for target, py, path in locks.all_locks(m):
        fresh = tmp_path / path.name
        locks.compile_lock(target, py, m.common, fresh)
        if locks.pinned(fresh) != locks.pinned(path):
            old, new = locks.pinned(path), locks.pinned(fresh)
            drift.append("%s: %s" % (path.name, sorted(set(new.items()) ^ set(old.items()))))
    if drift:
        pytest.fail("locks drifted from PyPI (run `invoke lock`):\n" + "\n".join(drift))


def test_invoke_matrix_prints_every_metal_release_with_a_source():
    out = subprocess.run([sys.executable, "-m", "invoke", "matrix"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for release in ("0.1.2", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.5.1", "0.6.0", "0.7.0", "0.7.1", "0.8.0",
                    "1.0.0", "1.0.1", "1.1.0", "1.2.0"):
        assert " %s " % release in out.stdout, release
    assert all(p.source for p in matrix.load().pairs)


def test_conda_files_match_the_matrix_and_point_at_hashed_locks():
    m = matrix.load()
    conda_dir = ROOT / "envs" / "conda"
    for target, py, lock in locks.all_locks(m):
        path = conda_dir / ("%s-%s-py%s.yml" % (target.name or target.profile, target.platform, py))
        assert path.read_text() == locks.conda_file(target, py, lock), path.name
        assert "- python=%s\n" % py in path.read_text() and "--require-hashes" in path.read_text()
        assert (path.parent / ("../locks/" + lock.name)).resolve() == lock.resolve()
    assert len(list(conda_dir.glob("*.yml"))) == len(locks.all_locks(m))
