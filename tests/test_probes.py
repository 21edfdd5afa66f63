"""The packages probe, on distributions made for the test (a dist-info folder is what importlib.metadata reads)."""

from __future__ import annotations

import json
import sys

import pytest


def test_unmet_requirements_name_only_installed_distributions(tmp_path, monkeypatch):
    """tensorflow-cpu provides the `tensorflow` name for requirements, but is the only one reported."""
    from checks import knowledge
    from checks.probes.packages import unmet_requirements

    for name, version, requires in (("tensorflow_cpu", "2.19.1", ["zz-missing-numpy<2.2"]),
                                    ("needs_tf", "1.0", ["tensorflow>=2.19,<2.20"])):
        info = tmp_path / ("%s-%s.dist-info" % (name, version))
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
            name.replace("_", "-"), version, "".join("Requires-Dist: %s\n" % r for r in requires)))
    monkeypatch.syspath_prepend(str(tmp_path))
    names = knowledge.load().matrix.tensorflows
    mine = [p for p in unmet_requirements(names) if "zz-missing-numpy" in p or "needs-tf" in p]
    assert mine == ["tensorflow-cpu 2.19.1 requires zz-missing-numpy<2.2, which is not installed"]


def _damaged_site(tmp_path):
    """A site directory whose one distribution has a deleted and a truncated file in each half of its RECORD (the
    second half starts with a deleted one)."""
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    for name, text in (("kept.py", "KEPT = 1\n"), ("cut.py", ""), ("also.py", "ALSO = 1\n"), ("short.py", "S")):
        (site / "pkg" / name).write_text(text)
    info = site / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    (info / "RECORD").write_text("pkg/kept.py,sha256=x,9\npkg/gone.py,sha256=y,12\npkg/cut.py,sha256=z,7\n"
                                 "pkg/gone2.py,sha256=b,3\npkg/also.py,sha256=a,9\npkg/short.py,sha256=c,5\n"
                                 "pkg-1.0.dist-info/RECORD,,\n")
    return site


DAMAGED = ["pkg/gone.py", "pkg/cut.py", "pkg/gone2.py", "pkg/short.py"]  # in RECORD's order


@pytest.mark.parametrize("minor", ["3.9", "3.11", "3.12", "3.13"])
def test_a_deleted_file_is_damage_on_every_python(tmp_path, minor):
    """From Python 3.12 ``Distribution.files`` leaves out files that no longer exist: the probe reads RECORD
    itself, so a deleted file (and a truncated one) is damage on every Python the environments use, looked at by
    one process or by two (setup's probe forks a copy that takes the second half of every RECORD)."""
    import subprocess

    from tests.conftest import ROOT, pyenv_python

    site = _damaged_site(tmp_path)
    code = ("import json, sys; sys.path[:0] = [%r, %r]; from checks.probes import installed; "
            "print(json.dumps([installed.collect({'pkg'}, workers=w) for w in (1, 2)]))" % (str(ROOT), str(site)))
    done = subprocess.run([pyenv_python(minor), "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for answer in json.loads(done.stdout):
        assert answer["damaged"] == {"pkg": DAMAGED} and answer["damaged_count"] == {"pkg": 4}


def test_a_forked_copy_that_fails_leaves_its_half_to_the_probe_itself(tmp_path):
    """The copy that looks at the second halves dies before answering: the probe looks at them itself, and the
    answer is the same as one process gives."""
    import subprocess

    from tests.conftest import ROOT

    site = _damaged_site(tmp_path)
    code = ("import json, os, sys; sys.path[:0] = [%r, %r]; from checks.probes import installed; me = os.getpid()\n"
            "each = installed._damaged_each\n"
            "def dying(part):\n"
            "    if os.getpid() != me: os._exit(7)\n"
            "    return each(part)\n"
            "installed._damaged_each = dying\n"
            "print(json.dumps(installed.collect({'pkg'}, workers=2)))" % (str(ROOT), str(site)))
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["damaged"] == {"pkg": DAMAGED}


def test_two_processes_answer_as_one_with_sigchld_ignored_and_two_dist_infos_of_one_name(tmp_path):
    """Started by a parent that ignores SIGCHLD, the probe's forked copy is reaped by the kernel: the answer is
    still whole. Two .dist-info folders of one name (a stale one beside the real one), in either order: the later
    is judged, by one process or two, never a mix of both."""
    import subprocess

    from tests.conftest import ROOT

    site = _damaged_site(tmp_path)
    (site / "pkg" / "a1.py").write_text("")  # the stale one's first half: truncated; its second half whole
    (site / "pkg" / "ok.py").write_text("OK")
    stale = site / "pkg-0.9.dist-info"
    stale.mkdir()
    (stale / "METADATA").write_text("Metadata-Version: 2.1\nName: pkg\nVersion: 0.9\n")
    (stale / "RECORD").write_text("pkg/a1.py,sha256=x,4\npkg/ok.py,sha256=y,2\npkg-0.9.dist-info/RECORD,,\n")
    code = ("import json, pathlib, signal, sys; sys.path[:0] = [%r]; from checks.probes import installed\n"
            "from importlib import metadata\n"
            "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
            "infos = [metadata.PathDistribution(pathlib.Path(p)) for p in (%r, %r)]\n"
            "print(json.dumps([installed.damaged_in([('pkg', d) for d in order], workers=w)\n"
            "                  for order in (infos, infos[::-1]) for w in (1, 2)]))"
            % (str(ROOT), str(site / "pkg-1.0.dist-info"), str(stale)))
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"pkg": ["pkg/a1.py"]}] * 2 + [{"pkg": DAMAGED}] * 2


@pytest.mark.parametrize("minor", ["3.9", "3.13"])
def test_collect_reads_name_version_and_quoted_record_paths(tmp_path, minor):
    """Name and Version come from METADATA's opening headers (any case), never from its description; a RECORD path
    with a comma is quoted (csv) and still checked: present and whole is fine, missing is damage."""
    import subprocess

    from tests.conftest import ROOT, pyenv_python

    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "a,b.py").write_text("AB = 1\n")
    info = site / "Pkg_Name-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("metadata-version: 2.1\nname: Pkg_Name\nsummary: s\n\n"
                                   "Name: not-this\nVersion: 9.9\n")  # no Version header: the body's is not one
    (info / "RECORD").write_text('"pkg/a,b.py",sha256=x,7\n"pkg/c,d.py",sha256=y,3\npkg/e.py,sha256=z,1\n'
                                 "Pkg_Name-2.0.dist-info/RECORD,,\n")
    code = ("import json, sys; sys.path[:0] = [%r, %r]; from checks.probes import installed; "
            "print(json.dumps(installed.collect({'pkg-name'})))" % (str(ROOT), str(site)))
    done = subprocess.run([pyenv_python(minor), "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["installed"] == {"pkg-name": ""}
    assert answer["damaged"] == {"pkg-name": ["pkg/c,d.py", "pkg/e.py"]}
