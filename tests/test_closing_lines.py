"""The closing lines: after a green run, how to use the environment (its activation, interpreter and Jupyter kernel
commands, each run here for real); marks coloured on a terminal only, never with NO_COLOR; a family's shared skip
reason printed once; after a failure, the one next command as the last line."""

from __future__ import annotations

import json
import os
import pty
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from checks import fixes, nextsteps
from tests.conftest import ROOT, invoke
from tests.test_fixes import check_fix_line

BUNDLE = ROOT / "tests" / "bundles" / "linux-x86_64-training"
ESC = "\033["


def checks(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def on_a_terminal(*args: str, **environ: str) -> str:
    """Run `python -m checks ARGS` with its stdout on a pseudo-terminal; return what the terminal got."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(environ)
    proc = subprocess.Popen([sys.executable, "-m", "checks", *args], cwd=ROOT, stdout=follower,
                            stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_marks_are_coloured_on_a_terminal_only_and_never_with_no_color():
    coloured = on_a_terminal("--replay", str(BUNDLE), TERM="xterm")
    assert ESC + "32m[✓]" + ESC + "0m" in coloured and ESC + "2m[-]" + ESC + "0m" in coloured
    assert ESC not in on_a_terminal("--replay", str(BUNDLE), TERM="xterm", NO_COLOR="1")
    assert ESC not in on_a_terminal("--replay", str(BUNDLE), TERM="dumb")
    piped = checks("--replay", str(BUNDLE), env={k: v for k, v in os.environ.items() if k != "NO_COLOR"})
    assert "[✓]" in piped.stdout and ESC not in piped.stdout


def test_a_familys_shared_skip_reason_is_printed_once():
    out = checks("--replay", str(BUNDLE)).stdout
    reason = "Linux has no Metal: Metal is Apple's GPU API, so the cpu profile runs TensorFlow on the CPU"
    matmul = out.split("\nmatmul\n")[1].split("\n\n")[0]
    assert matmul.count(reason) == 1 and "      3 skipped: " + reason in matmul
    assert "  [-] GPU speedup over CPU\n" in matmul
    training = out.split("\ntraining\n")[1].split("\n\n")[0]
    assert training.count(reason) == 1 and "      2 skipped: " + reason in training
    assert "  [-] Training step time: GPU against CPU: CPU 3.15 ms per step (50,618-parameter model, batch 64)\n" \
        in training  # its own figures stay; only the shared reason moves
    assert "  [-] GPU devices: " + reason in out  # alone in its family: said where it is


def test_a_failed_run_ends_with_the_one_next_command(tmp_path):
    out = tmp_path / "out.json"
    done = checks("--replay", str(BUNDLE), "--profile", "metal", "--json", str(out))
    assert done.returncode == 1
    first = next(c for c in json.loads(out.read_text())["checks"] if c["status"] == "fail")
    assert done.stdout.rstrip("\n").splitlines()[-1] == "next: " + first["fix"].splitlines()[0]
    assert "Ready." not in done.stdout


def test_a_failure_no_command_fixes_has_no_next_line(tmp_path):
    """--require-gpu on Linux: no command gives this machine a Metal GPU, so no fix and no next line."""
    out = tmp_path / "out.json"
    done = checks("--replay", str(BUNDLE), "--require-gpu", "--json", str(out))
    failed = [c for c in json.loads(out.read_text())["checks"] if c["status"] == "fail"]
    assert done.returncode == 1 and failed and all(c["fix"] is None for c in failed)
    assert "next:" not in done.stdout and "bare-metal Apple Silicon Mac" in done.stdout


def test_a_replay_prints_no_environment_lines():
    done = checks("--replay", str(BUNDLE))
    assert done.returncode == 0 and "Ready." not in done.stdout and "next:" not in done.stdout


def commands(lines: list[str]) -> dict[str, str]:
    """The commands of the closing lines, by what they are for."""
    labelled = {}
    key = None
    for line in lines[1:]:
        head, _, rest = line.strip().partition(":   ")
        if rest:
            key, text = head, rest.strip()
        else:
            text = line.strip()
        if not text.startswith("then "):
            labelled.setdefault(key, []).append(text)
    return {k: "\n".join(v) for k, v in labelled.items()}


@pytest.mark.network
def test_the_printed_commands_work_activate_interpreter_and_a_real_jupyter_kernel(tmp_path):
    """A scratch environment (a space in its path) gets the lines a green run prints; each command is run as
    printed, from the repository root: activation in bash, ipykernel installed with the lock as constraints,
    the kernel registered (JUPYTER_DATA_DIR points --user at a temp dir) and then started to run code."""
    env = tmp_path / "my env"
    uv = ROOT / ".tools" / "bin" / "uv"
    subprocess.run([str(uv), "venv", "-q", str(env), "--python", sys.executable], check=True, timeout=120)
    lock = "envs/locks/cpu-linux-x86_64-py%d.%d.txt" % sys.version_info[:2]
    lines = nextsteps.after_green(env, {"lock": lock})
    cmd = commands(lines)
    assert cmd["activate it"] == "source %s/bin/activate" % shlex.quote(str(env))
    assert Path(cmd["editor interpreter"]) == env / "bin" / "python"
    install, register = cmd["Jupyter kernel"].splitlines()
    if (ROOT / lock).exists():
        assert install.endswith("--constraint " + lock)

    activated = subprocess.run(["bash", "-c", cmd["activate it"] + " && python -c 'import sys; print(sys.prefix)'"],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert activated.stdout.strip() == str(env), activated.stderr
    jupyter = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "jupyter"))
    for line in (install, register):
        done = subprocess.run(shlex.split(line), cwd=ROOT, capture_output=True, text=True, timeout=600, env=jupyter)
        assert done.returncode == 0, line + "\n" + done.stdout + done.stderr
    spec = json.loads((tmp_path / "jupyter" / "kernels" / "my-env" / "kernel.json").read_text())
    assert spec["argv"][0] == str(env / "bin" / "python") and spec["display_name"] == "TensorFlow (my env)"
    started = subprocess.run([str(env / "bin" / "python"), "-c", KERNEL_CLIENT], cwd=tmp_path, capture_output=True,
                             text=True, timeout=180, env=jupyter)
    assert started.stdout.strip().splitlines()[-1] == str(env), started.stdout + started.stderr


KERNEL_CLIENT = """\
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="my-env", startup_timeout=120)
try:
    out = []
    kc.execute_interactive("import sys; print(sys.prefix)", timeout=120,
                           output_hook=lambda m: out.append(m["content"].get("text", "")))
    print("".join(out).strip())
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
"""


def test_uv_less_checkouts_get_pip_and_paths_inside_the_repository_are_relative(tmp_path):
    lines = nextsteps.after_green(ROOT / ".venv-tf", None, root=ROOT)
    assert "source .venv-tf/bin/activate" in lines[1] and str(ROOT / ".venv-tf" / "bin" / "python") in lines[2]
    bare = nextsteps.after_green(tmp_path / "env", None, root=tmp_path)  # no .tools/bin/uv there
    assert bare[3].split(":", 1)[1].strip() == "env/bin/python -m pip install ipykernel"
    assert nextsteps.kernel_name(Path("/x/.venv-tf")) == "venv-tf"
    assert nextsteps.kernel_name(Path("/x/ü é")) == "tensorflow"


@pytest.mark.slow
@pytest.mark.network
def test_a_green_verify_of_a_real_environment_prints_them(tf_env):
    done = invoke("verify", "--env", str(tf_env), "--budget", "0.5")
    assert done.returncode == 0, done.stdout + done.stderr
    tail = done.stdout.rstrip("\n").splitlines()[-6:]
    assert tail == nextsteps.after_green(tf_env, json.loads((tf_env / ".tfmetal-setup.json").read_text()))
    assert "source %s/bin/activate" % shlex.quote(str(tf_env)) in tail[1]


def test_a_project_environment_gets_ipykernel_through_its_requirements(tmp_path):
    """setup's sync of a project lock removes what the requirements do not list (uv pip sync), so a project
    environment is told to add ipykernel to them and run setup, not to install it beside the lock; once the
    project lock pins it, only the registration is left."""
    req, lock = tmp_path / "team app" / "requirements.txt", tmp_path / "team app" / "tfmetal-locks" / "cpu.txt"
    lock.parent.mkdir(parents=True)
    req.write_text("tabulate\n")
    lock.write_text("tabulate==0.9.0 \\\n    --hash=sha256:ab\n")
    marker = {"lock": str(lock), "project": {"requirements": [str(req)]}}
    env = tmp_path / "env"
    lines = nextsteps.after_green(env, marker)
    cmd = commands(lines)["Jupyter kernel"].splitlines()
    assert cmd[0].startswith("add ipykernel to %s" % shlex.quote(str(req)))
    assert cmd[1] == fixes.setup(env, "--requirements", str(req)) and check_fix_line(cmd[1]) == []
    assert "pip install" not in "\n".join(lines)
    lock.write_text(lock.read_text() + "ipykernel==7.4.0 \\\n    --hash=sha256:cd\n")
    cmd = commands(nextsteps.after_green(env, marker))["Jupyter kernel"].splitlines()
    assert len(cmd) == 1 and cmd[0].endswith("-m ipykernel install --user --name env --display-name 'TensorFlow (env)'")


def test_a_run_failed_by_strict_keeps_strict_in_its_next_command():
    from checks.model import Check, Outcome, warn

    fix = fixes.command("verify", "--budget", "5", env=ROOT / ".venv-tf", why="a longer run, on an idle machine")
    outcomes = [Outcome(Check("matmul.cpu", "CPU matmul (reference)", lambda *a: warn("x")), warn("disturbed", fix))]
    assert nextsteps.next_command(outcomes, strict=False) is None
    line = nextsteps.next_command(outcomes, strict=True)
    assert line == ("next: .tools/bin/invoke verify --env .venv-tf --budget 5 --strict  # a longer run, on an idle "
                    "machine")
    assert nextsteps.keep_strict(line[len("next: "):]) == line[len("next: "):]  # never twice
    setup = fixes.setup(ROOT / ".venv-tf", "--force", why="rebuilds it")
    assert nextsteps.keep_strict(setup) == setup  # only a verify command is run again with --strict


def test_a_keras_backend_environment_names_its_kernel_for_its_framework(tmp_path):
    lines = nextsteps.after_green(tmp_path / "env", {"backend": "torch"})
    kernel = commands(lines)["Jupyter kernel"]
    assert "--display-name 'Keras on torch (env)'" in kernel and "TensorFlow" not in kernel
