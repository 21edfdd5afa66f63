"""The front door as users meet it: real subprocesses with a file argument, a terminal, a closed pipe,
an ASCII-only encoding; JUnit times; `invoke abi` exit codes; the example workflow's pinned actions."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import ROOT, invoke
from tests.test_diagnose import QUOTES

CHECKS = [sys.executable, "-m", "checks"]
INVOKE = [sys.executable, "-m", "invoke"]
LINUX_BUNDLE = str(ROOT / "tests" / "bundles" / "linux-x86_64")  # its replayed report holds non-ASCII marks


@pytest.fixture
def error_file(tmp_path):
    path = tmp_path / "error ü.txt"
    path.write_text(QUOTES["metal-library-not-loaded"], encoding="utf-8")
    return path


def test_invoke_diagnose_takes_the_file_as_the_readme_writes_it(error_file):
    positional = invoke("diagnose", str(error_file))
    flag = invoke("diagnose", "--file", str(error_file))
    assert positional.returncode == 0, positional.stderr
    assert positional.stdout == flag.stdout and flag.returncode == 0
    assert "tensorflow-metal" in positional.stdout


def _read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            seen += os.read(fd, 4096)
    return seen


@pytest.mark.parametrize("argv", [INVOKE + ["diagnose", "-"], CHECKS + ["diagnose"]], ids=["invoke", "checks"])
def test_diagnose_on_a_terminal_says_to_paste_and_press_ctrl_d(argv):
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(slave)
    try:
        prompt = _read_until(proc.stderr.fileno(), b"Ctrl-D")
        assert b"Paste the error text" in prompt and b"Ctrl-D" in prompt, prompt
        os.write(master, QUOTES["metal-library-not-loaded"].encode() + b"\n")
        os.write(master, b"\x04")  # Ctrl-D at the start of a line: end of input
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 0 and b"tensorflow-metal" in out


def test_bare_invoke_diagnose_is_one_clear_line_and_dash_reads_the_pipe():
    """invoke has no optional positional arguments (README: use `invoke diagnose -` for standard input): a bare
    `invoke diagnose` is one line of ours, exit 2, not invoke's "did not receive required positional arguments"."""
    text = QUOTES["metal-library-not-loaded"]
    bare = subprocess.run(INVOKE + ["diagnose"], input=text, capture_output=True, text=True, cwd=ROOT)
    assert bare.returncode == 2 and bare.stdout == "", bare.stdout + bare.stderr
    assert bare.stderr == ("error: `invoke diagnose` needs the error text: a FILE that holds it, or - to paste it; "
                           "fix: .tools/bin/invoke diagnose -  # then paste the error text and press Ctrl-D on a "
                           "line of its own\n"), bare.stderr
    fix = bare.stderr.split("fix: ", 1)[1].strip()
    healed = subprocess.run(fix, shell=True, input=text, capture_output=True, text=True, cwd=ROOT)
    assert healed.returncode == 0 and "tensorflow-metal" in healed.stdout
    dash = subprocess.run(INVOKE + ["diagnose", "-"], input=text, capture_output=True, text=True, cwd=ROOT)
    assert dash.returncode == 0 and "tensorflow-metal" in dash.stdout and "Paste" not in dash.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_invoke_diagnose_help_is_the_tasks_own(flag):
    """Issue 18: `invoke diagnose --help` printed `python -m checks diagnose` usage (invoke hands --help to the
    positional argument)."""
    done = subprocess.run(INVOKE + ["diagnose", flag], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "python -m checks" not in done.stdout, done.stdout
    assert done.stdout.startswith("Usage: inv[oke] [--core-opts] diagnose ") and "--file=STRING" in done.stdout


def test_diagnose_from_a_pipe_does_not_prompt():
    done = subprocess.run(CHECKS + ["diagnose"], input=QUOTES["metal-library-not-loaded"], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0 and "Paste" not in done.stderr


CLOSED_PIPE_CASES = {
    "checks-replay": CHECKS + ["--replay", LINUX_BUNDLE],
    "invoke-matrix": INVOKE + ["matrix"],
    "invoke-abi": INVOKE + ["abi"],
}


@pytest.mark.parametrize("argv", CLOSED_PIPE_CASES.values(), ids=CLOSED_PIPE_CASES.keys())
def test_a_closed_output_pipe_ends_quietly_with_141(argv):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written, as with `| head` after its lines
    done = subprocess.run(argv, cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300)
    os.close(write_end)
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.returncode == 141


ASCII_CASES = {
    "checks-replay": CHECKS + ["--replay", LINUX_BUNDLE],
    "invoke-matrix": INVOKE + ["matrix"],
    "invoke-abi-pair": INVOKE + ["abi", "--tensorflow", "2.14", "--metal", "1.0.0"],
}


@pytest.mark.parametrize("argv", ASCII_CASES.values(), ids=ASCII_CASES.keys())
def test_an_ascii_only_output_encoding_gives_no_traceback(argv):
    normal = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    narrow = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=300, env=env)
    assert b"Traceback" not in narrow.stderr, narrow.stderr.decode(errors="replace")
    assert narrow.returncode == normal.returncode
    narrow.stdout.decode("ascii")  # nothing but ASCII reached the stream
    assert len(narrow.stdout.splitlines()) == len(normal.stdout.splitlines())


def test_junit_testcases_carry_measured_times(tmp_path):
    junit = tmp_path / "junit.xml"
    done = subprocess.run(CHECKS + ["--replay", LINUX_BUNDLE, "--junit", str(junit)], cwd=ROOT, capture_output=True)
    assert done.returncode in (0, 1), done.stderr
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert cases and all(float(c.get("time")) > 0 for c in cases)
    suite = float(root.find("testsuite").get("time"))
    assert suite >= sum(float(c.get("time")) for c in cases)


@pytest.mark.parametrize("args,code", [
    (("--tensorflow", "2.19.1", "--metal", "1.2.0"), 0),   # loads
    (("--tensorflow", "2.11.0", "--metal", "1.2.0"), 1),   # symbol not found in flat namespace
    (("--tensorflow", "2.x", "--metal", "1.2.0"), 2),      # not a version
    (("--tensorflow", "1.15.0", "--metal", "1.2.0"), 2),   # predates macOS arm64 wheels
    ((), 0),                                               # the grid
])
def test_invoke_abi_exit_codes_are_those_the_readme_documents(args, code):
    done = invoke("abi", *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_the_example_workflow_pins_every_action_by_commit_sha():
    text = (ROOT / ".github" / "workflows" / "preflight-apple-silicon.yml").read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(.+)$", text, flags=re.M)
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*", ref.strip()), ref


def _pinned(lock: str) -> set[str]:
    text = (ROOT / "envs" / lock).read_text(encoding="utf-8")
    return {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", text, flags=re.M)}


def test_the_runtime_lock_holds_no_developer_tool_and_lint_uses_the_dev_lock():
    runtime, dev = _pinned("tools.lock"), _pinned("dev.lock")
    assert {"invoke", "uv", "packaging", "psutil"} <= runtime
    assert not runtime & {"ruff", "mypy", "pytest", "jsonschema", "xmlschema", "lief"}
    assert {"ruff", "mypy", "pytest", "jsonschema", "xmlschema", "lief"} <= dev
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    deps = {m.group(1): m.group(2).split("##")[0].split() for m in re.finditer(r"^([a-z-]+): (.*)$", makefile, re.M)}
    assert deps["lint"][0] == "dev" and all(deps[d][0] == "dev" for d in deps["lint"] if d != "dev"), deps["lint"]


def test_invoke_list_shows_each_task_as_one_whole_sentence():
    """invoke --list shows the first line of each docstring: it must be a whole sentence on its own."""
    done = invoke("--list")
    assert done.returncode == 0
    summaries: dict[str, str] = {}
    for line in done.stdout.splitlines()[2:]:
        if not line.strip():
            continue
        if line.startswith("  ") and not line.startswith("   "):
            name, text = line.split(None, 1)
            summaries[name] = text
        else:
            summaries[name] += " " + line.strip()
    assert {"setup", "verify", "abi", "diagnose", "lock", "matrix", "report"} <= set(summaries)
    for name, text in summaries.items():
        assert text.endswith(".") and text.count(". ") == 0, (name, text)


def test_setup_help_says_requirements_takes_a_file():
    done = invoke("setup", "--help")
    option = next(ln for ln in done.stdout.splitlines() if "--requirements" in ln)
    assert "FILE" in option


def test_invoke_from_another_folder_with_r_runs_the_suite(tmp_path):
    """Issue 18: invoke run from outside the clone. With `-r ROOT` the tasks run (paths you pass are read from your
    folder); without it invoke stops before loading tasks.py (README: "From another folder")."""
    tools_invoke = str(ROOT / ".tools" / "bin" / "invoke")
    dry = subprocess.run([tools_invoke, "-r", str(ROOT), "setup", "--dry-run"], cwd=str(tmp_path),
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert dry.returncode == 0 and "Dry run for this machine" in dry.stdout, dry.stderr
    missing = subprocess.run([tools_invoke, "-r", str(ROOT), "verify", "--env", "nowhere"], cwd=str(tmp_path),
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        "error: no environment at nowhere (no bin/python); fix: .tools/bin/invoke setup --env %s" % (
            tmp_path / "nowhere")], missing.stderr
    bare = subprocess.run([tools_invoke, "--list"], cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert bare.returncode == 1 and "Can't find any collection named 'tasks'!" in bare.stderr  # invoke's own
