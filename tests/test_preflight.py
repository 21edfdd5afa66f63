"""Setup's preflight on recorded real macOS outputs: the pure rules, the needs from the matrix, the probe's env."""

from __future__ import annotations

import pytest

from checks import knowledge, preflight, process
from scripts import preflight as preflight_probe
from tests.machines import ok

# Real outputs. sw_vers -productVersion: 14.4.1 (public sample 37825857555), 12.6 (id 64762307).
MACOS_14_4_1 = ok("14.4.1")
MACOS_12_6 = ok("12.6")
# xcrun on a Mac whose Command Line Tools are missing (dwyl/dev-setup#51; the same text from the make stub,
# roddhjav/pass-update#16). The sources quote the text, not the exit status: any non-zero one is judged alike.
NO_CLT = {"returncode": 1, "stdout": "", "timed_out": False, "error": None, "duration_s": 0.01,
          "stderr": "xcrun: error: invalid active developer path (/Library/Developer/CommandLineTools), missing "
                    "xcrun at: /Library/Developer/CommandLineTools/usr/bin/xcrun\n"}
# The SDK the community plugin's author built with is not recorded; a present toolchain is judged by its version.
SDK_15 = ok("15.0")
MAKE = ok("GNU Make 3.81")  # the first line macOS's make prints (GNU Make 3.81 ships with the Command Line Tools)

K = knowledge.load({})
COMMUNITY = K.matrix.target("metal", "macos-arm64", "2.21.0")
APPLE = K.matrix.target("metal", "macos-arm64")


def findings(target, outputs, arch="arm64", version="3.12.4"):
    wanted = preflight.needs(target, version[:4], "brew install python@3.12")
    return {f.need.name: f for f in preflight.judge(wanted, outputs, arch, version)}


def test_the_community_pair_needs_macos_15_its_sdk_make_and_a_native_python_in_range():
    assert [n.name for n in preflight.needs(COMMUNITY, "3.12", "x")] == ["macos", "sdk", "make", "python"]
    assert [n.name for n in preflight.needs(APPLE, "3.12", "x")] == ["macos", "python"]  # a wheel: nothing to build
    good = findings(COMMUNITY, {"macos": ok("15.1"), "sdk": SDK_15, "make": MAKE})
    assert all(f.ok for f in good.values()) and preflight.refusal(list(good.values()), COMMUNITY.label) is None


@pytest.mark.parametrize("sw_vers,version", [(MACOS_14_4_1, "14.4.1"), (MACOS_12_6, "12.6")])
def test_an_older_macos_is_refused_with_the_update_command(sw_vers, version):
    found = findings(COMMUNITY, {"macos": sw_vers, "sdk": SDK_15, "make": MAKE})
    assert not found["macos"].ok and found["macos"].found == version
    err = preflight.refusal(list(found.values()), COMMUNITY.label)
    assert err is not None and err.code == 2
    assert "macOS >=15.0 needed, found %s" % version in err.message and "Nothing was changed" in err.message
    assert err.fix.startswith("softwareupdate --list")
    # Apple's pair needs macOS 12: the same machines pass
    assert findings(APPLE, {"macos": sw_vers})["macos"].ok


def test_missing_command_line_tools_refuse_with_xcode_select_once():
    found = findings(COMMUNITY, {"macos": ok("15.1"), "sdk": NO_CLT, "make": NO_CLT})
    assert not found["sdk"].ok and not found["make"].ok
    assert "invalid active developer path" in found["sdk"].found
    err = preflight.refusal(list(found.values()), COMMUNITY.label)
    assert err is not None and err.fix.count("xcode-select --install") == 1  # one command fixes both


def test_an_old_sdk_and_a_wrong_python_are_named():
    found = findings(COMMUNITY, {"macos": ok("15.1"), "sdk": ok("14.5"), "make": MAKE}, arch="x86_64",
                     version="3.9.18")
    assert not found["sdk"].ok and found["sdk"].found == "14.5"
    assert not found["python"].ok and found["python"].found == "x86_64 Python 3.9.18"
    err = preflight.refusal(list(found.values()), COMMUNITY.label)
    assert err is not None and "brew install python@3.12" in err.fix and "xcode-select --install" in err.fix


def test_probe_runs_each_command_without_system_version_compat(monkeypatch):
    seen = []

    def run(argv, timeout, env):
        seen.append((argv, env))
        return process.Completed(argv, 0, "15.1\n", "", 0.01)

    monkeypatch.setenv("SYSTEM_VERSION_COMPAT", "1")  # would make sw_vers say 10.16
    outputs = preflight_probe.probe(preflight.needs(COMMUNITY, "3.12", "x"), run=run)
    assert [a for a, _ in seen] == [["sw_vers", "-productVersion"], ["xcrun", "--show-sdk-version"],
                                    ["make", "--version"]]
    assert all("SYSTEM_VERSION_COMPAT" not in env for _, env in seen)
    assert set(outputs) == {"macos", "sdk", "make"}


def test_linux_targets_judge_only_the_interpreter_by_its_normalised_architecture():
    aarch64 = K.matrix.target("cpu", "linux-aarch64")
    wanted = preflight.needs(aarch64, "3.11", "uv python install 3.11")
    assert [n.name for n in wanted] == ["python"]
    assert preflight.judge(wanted, {}, "arm64", "3.11.7")[0].ok  # platform.machine() 'aarch64' is arm64 here
    assert not preflight.judge(wanted, {}, "x86_64", "3.11.7")[0].ok


def test_a_probe_that_timed_out_is_said_to_have_given_no_answer():
    late = {"returncode": None, "stdout": "", "stderr": "", "timed_out": True, "duration_s": 30.0,
            "error": "timed out after 30 s"}
    found = findings(COMMUNITY, {"macos": ok("15.1"), "sdk": late, "make": MAKE})
    assert not found["sdk"].ok and found["sdk"].found == "no answer: `xcrun --show-sdk-version` timed out after 30 s"
    err = preflight.refusal(list(found.values()), COMMUNITY.label)
    assert err is not None and "timed out after 30 s" in err.message


def test_a_hung_system_command_is_killed_at_its_timeout(tmp_path):
    """process.run, which every system command goes through: a command that never ends is killed at the timeout
    and the result says so (a stand-in for a stuck system_profiler or xcrun)."""
    done = process.run(["sleep", "30"], timeout=0.5)
    assert done.timed_out and done.returncode is None and (done.error or "").startswith("timed out after")
    assert done.duration_s < 10
