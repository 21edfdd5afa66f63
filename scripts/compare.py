"""`invoke compare ENV [ENV ...]`: verify each environment in turn, each in its own interpreter, then one table.

Everything is checked before any environment runs (each is an environment, none is named twice, the options and
the output file are good): bad input is exit 2 with one line. Then each environment's verify runs through the
same command `invoke verify --env E` runs, one after another (never at once: the timings would disturb each
other), with its output passed to stderr as progress and its results written to a temporary JSON file. The table
is built from those results by the pure functions of checks/comparison.py.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from checks import comparison, outputs, process
from checks.errors import UsageError
from checks.matrix import Matrix

# compare's options that take a value (--env aside)
OPTIONS_WITH_VALUES = ("--json", "-j", "--budget", "-b", "--timeout", "-t")


def positional_envs(tokens: Sequence[str], task: str = "compare") -> list[str]:
    """invoke gives a task no variable number of positional arguments: ``compare A B --json F`` becomes
    ``compare --env A --env B --json F``. Every word after ``compare`` that is neither an option nor an option's
    value names an environment (so compare comes last on the command line)."""
    at = next((i + 1 for i, t in enumerate(tokens) if t == task and (i == 0 or not tokens[i - 1].startswith("-"))),
              None)  # the task's name, not an option's value (`invoke diagnose --file compare`)
    if at is None:
        return list(tokens)
    out, rest = list(tokens[:at]), list(tokens[at:])
    i = 0
    while i < len(rest):
        token = rest[i]
        if token in OPTIONS_WITH_VALUES + ("--env", "-e") and i + 1 < len(rest):
            out += [token, rest[i + 1]]
            i += 2
            continue
        out += [token] if token.startswith("-") else ["--env", token]
        i += 1
    return out


def check_envs(envs: Sequence[str]) -> list[str]:
    """The environments, each once: a UsageError for none, or for one named twice (by any path)."""
    if not envs:
        raise UsageError("name at least one environment: invoke compare ENV [ENV ...] (e.g. invoke compare .venv-tf)")
    seen: dict[str, str] = {}
    for env in envs:
        real = os.path.realpath(os.path.expanduser(env))
        if real in seen:
            same = "" if seen[real] == env else " (as %s)" % seen[real]
            raise UsageError("environment %s is named twice%s: each environment is one row" % (env, same))
        seen[real] = env
    return list(envs)


def check_output(path: str) -> None:
    """``--json FILE``: new, empty, or a table this command wrote before; never a user's file (nor verify's)."""
    target = Path(path)
    if target.is_file() and target.stat().st_size:
        with open(target, "rb") as fh:
            head = fh.read(512).decode("utf-8", errors="replace")
        if '"schema_version"' in head and '"tool": "compare"' in head:
            return
        raise UsageError("--json %s exists and was not written by invoke compare; not overwriting it: remove it or "
                         "choose another path" % path)
    outputs.check_file(path, "--json")


def _error(done: process.Completed) -> str:
    """Why a verify wrote no results: the error it could not start with, its signal, or its last line."""
    if done.error:
        return done.error
    if done.signal_name:
        return "killed by %s" % done.signal_name
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else "exit %s and no output" % done.returncode


def run_all(commands: Sequence[tuple[str, Sequence[str], dict[str, str]]],
            say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
            ) -> list[comparison.EnvRun]:
    """Run each environment's verify command (``(env, argv, environ)``, argv without ``--json``), one after
    another, with ``--json`` into a temporary folder; each one's output goes to stderr as progress."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="tfm-compare-") as tmp:
        for i, (env, argv, environ) in enumerate(commands, 1):
            out = os.path.join(tmp, "%d.json" % i)
            say("compare: [%d/%d] verifying %s ..." % (i, len(commands), env))
            start = time.monotonic()
            done = process.stream([*argv, "--json", out], env=environ, progress=True,
                                  interrupted="interrupted while verifying %s" % env)
            seconds = time.monotonic() - start
            results: dict[str, Any] | None = None
            error = None
            try:
                with open(out, encoding="utf-8") as fh:
                    results = json.load(fh)
            except FileNotFoundError:
                error = _error(done)
            except (OSError, ValueError) as exc:
                error = "its results could not be read: %s" % exc
            runs.append(comparison.EnvRun(env, os.path.abspath(os.path.expanduser(env)), done.returncode, results,
                                          error, seconds))
            say("compare: [%d/%d] %s: verify exit %s in %.1f s" % (i, len(commands), env, done.returncode, seconds))
    say("")  # the table follows on stdout
    return runs


def report(runs: Sequence[comparison.EnvRun], matrix: Matrix, json_path: str | None,
           options: dict[str, Any]) -> int:
    """Print the table; write it as JSON (``json_path``) and to $GITHUB_STEP_SUMMARY when set; the exit code."""
    table = comparison.rows(runs, matrix)
    facts = comparison.machine(runs)
    marks = comparison.MARKS
    try:
        "✗×".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        marks = comparison.ASCII
    text = comparison.render_text(table, facts, marks)
    if marks is comparison.ASCII:
        text = text.replace("×", "x")
    sys.stdout.write(text)
    if json_path:
        try:
            Path(json_path).write_text(json.dumps(comparison.to_json(table, runs, facts, options), indent=2) + "\n",
                                       encoding="utf-8")
        except OSError as exc:
            raise UsageError("cannot write %s: %s" % (json_path, exc.strerror)) from None
        print("Wrote %s" % json_path)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(comparison.render_markdown(table, facts))
        except OSError as exc:
            print("compare: warning: cannot append to GITHUB_STEP_SUMMARY: %s" % exc.strerror, file=sys.stderr)
    return comparison.exit_code(table)
