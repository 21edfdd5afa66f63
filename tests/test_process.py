"""The one process helper: timeouts kill the whole process group; signals are named."""

from __future__ import annotations

import sys
import time

import psutil

from checks import process


def test_captures_output_and_exit_code():
    done = process.run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"])
    assert (done.returncode, done.stdout.strip(), done.stderr.strip(), done.ok) == (3, "out", "err", False)


def test_timeout_kills_grandchildren_too():
    code = ("import subprocess, sys, time; p = subprocess.Popen(['sleep', '60']); print(p.pid, flush=True); "
            "time.sleep(60)")
    start = time.monotonic()
    done = process.run([sys.executable, "-c", code], timeout=2)
    assert done.timed_out and done.returncode is None and time.monotonic() - start < 10
    grandchild = int(done.stdout.split()[0])
    time.sleep(0.2)
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


def test_signal_death_is_named():
    done = process.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    assert done.returncode == -11 and done.signal_name == "SIGSEGV"


def test_missing_program_is_a_result_not_an_exception():
    done = process.run(["/nonexistent/program"])
    assert done.returncode is None and done.error and not done.ok


def test_no_shell_anywhere_in_the_suite():
    """Every subprocess is an argv list: no user-provided string ever reaches a shell."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sources = [p for d in ("checks", "scripts", "benchmarks") for p in (root / d).rglob("*.py")] + [root / "tasks.py"]
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|c\.run\(")
    offenders = [str(p.relative_to(root)) for p in sources if pattern.search(p.read_text(encoding="utf-8"))]
    assert len(sources) > 20 and offenders == []


def test_last_json_reads_the_probe_answer_on_the_last_line_only_of_a_run_that_succeeded():
    said = 'import sys; print("warming up"); print(\'{"version": "3.9.18"}\')'
    assert process.run([sys.executable, "-c", said], timeout=30).last_json() == {"version": "3.9.18"}
    failed = process.run([sys.executable, "-c", said + "; sys.exit(3)"], timeout=30)
    assert failed.last_json() is None
    assert process.run([sys.executable, "-c", "print('not json')"], timeout=30).last_json() is None
    assert process.run([sys.executable, "-c", "pass"], timeout=30).last_json() is None
