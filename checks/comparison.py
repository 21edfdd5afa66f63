"""`invoke compare`'s table, built by pure functions from each environment's verify results (its ``--json``).

A row per environment: its backend and pair, then one cell per column, each read from the results by check id
(``COLUMNS``). A cell holds a short value, or nothing with a note saying why: a skipped check's reason, a failed
check's summary, a check the results do not hold, or the environment's verify error. The notes are numbered once
for the whole table (one reason shared by many cells is printed once). Text, markdown and JSON are rendered from the
same rows. Standard library only; no probe, no process: scripts/compare.py runs the environments.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checks import __version__
from checks.matrix import TENSORFLOW, Matrix

SCHEMA_VERSION = "1"
MEASURED = ("pass", "warn", "fail")  # a check that ran and judged; "skip" and absent ones measured nothing
SPEED_GATES = ("matmul.speedup", "training.speed")  # compare reports speed; a verify failed only by them verified


@dataclass(frozen=True)
class Column:
    """One column: its id (the JSON key), its title, and the check ids it reads."""

    id: str
    title: str
    checks: tuple[str, ...]


COLUMNS = (
    Column("accelerator", "accelerator", ("devices.gpu",)),
    Column("placement", "placement", ("matmul.gpu", "training.placement")),
    Column("numbers", "matmul error (tolerance)", ("matmul.gpu", "matmul.cpu")),
    Column("agreement", "loss vs CPU (tolerance)", ("training.agreement",)),
    Column("step_time", "step time", ("training.speed",)),
    Column("matmul_speedup", "matmul speedup", ("matmul.speedup",)),
    Column("training_speedup", "training speedup", ("training.speed",)),
)


@dataclass(frozen=True)
class EnvRun:
    """What running one environment's verify left: its results (``--json``), or the error that stopped it."""

    env: str  # as the user named it
    path: str  # absolute
    exit_code: int | None  # verify's; None when it could not start
    results: Mapping[str, Any] | None  # the JSON document verify wrote; None when it wrote none
    error: str | None = None  # the last lines verify printed, when it wrote no results
    seconds: float = 0.0


@dataclass(frozen=True)
class Cell:
    """A value, or ``""`` with ``notes`` saying why; ``status``: the worst status of the checks read (or ``absent``,
    ``error``); ``notes``: each ``(check ids, why)``."""

    text: str
    status: str
    notes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Row:
    env: str
    path: str
    backend: str
    label: str  # backend and pair: "tensorflow-cpu 2.19.1", "keras 3.15.1 + torch 2.13.0+cpu"
    verify: Cell  # verify's own outcome: its exit code and counts, or its error
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Verified: verify passed, or failed only its speed gates (compare shows the speed; it gates nothing)."""
        return self.verify.status in ("pass", "warn")


# -- reading the results ---------------------------------------------------------------------------------------

def _checks(results: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("id")): c for c in (results or {}).get("checks") or []}


def _installed(results: Mapping[str, Any]) -> dict[str, str]:
    pk = (results.get("facts") or {}).get("packages") or {}
    found = {str(k): str(v) for k, v in (pk.get("versions") or {}).items() if v}
    found.update({str(k): str(v) for k, v in (pk.get("distributions") or {}).items() if v})
    return found


def backend_and_label(results: Mapping[str, Any] | None, matrix: Matrix) -> tuple[str, str]:
    """The environment's backend (its setup marker's, else the matrix's ``backend_of`` its distributions) and its
    pair as installed: the TensorFlow distribution and any GPU plugin, or Keras and the backend's framework."""
    if not results:
        return "?", "not verified"
    installed = _installed(results)
    marker = (((results.get("facts") or {}).get("packages") or {}).get("environment") or {}).get("marker") or {}
    backend = str(marker.get("backend") or matrix.backend_of(list(installed)))
    if backend == TENSORFLOW:
        names = [n for n in matrix.tensorflows if n in installed] + [n for n in matrix.installed_names
                                                                     if n in installed]
    else:
        b = matrix.backend(backend)
        framework = next((n for n in (b.distributions if b else (backend,)) if n in installed), None)
        names = [n for n in ("keras", framework) if n and n in installed]
    label = " + ".join("%s %s" % (n, installed[n]) for n in dict.fromkeys(names))
    return backend, label or "%s (no %s distribution found)" % (backend, backend)


def _why(check: Mapping[str, Any]) -> str:
    """A check that measured nothing: why (a skip's reason, else its summary)."""
    return str(check.get("reason") or check.get("summary") or "no reason recorded")


def _sci(x: Any) -> str:
    return "%.1e" % float(x)


def _device(name: Any) -> str:
    """``/job:localhost/replica:0/task:0/device:GPU:0`` -> ``GPU:0``."""
    text = str(name or "?")
    return text.rsplit("device:", 1)[-1] if "device:" in text else text.rsplit("/", 1)[-1]


def _worst(statuses: Sequence[str]) -> str:
    order = ("error", "fail", "warn", "absent", "skip", "pass")
    return next((s for s in order if s in statuses), "pass")


class _Reader:
    """One environment's checks, read by id; each lookup of a check that measured nothing records why."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        self.by_id = _checks(results)
        self.notes: list[tuple[str, str]] = []
        self.statuses: list[str] = []

    def get(self, check_id: str, judged: bool = True) -> Mapping[str, Any] | None:
        """The check if it measured something (pass, warn, fail), else None with a note saying why. A ``judged``
        check's status is the cell's, and its failure or warning a note; one read only for a fact is neither."""
        c = self.by_id.get(check_id)
        if c is None:
            self.statuses.append("absent")
            self.notes.append((check_id, "not in these results: this verify has no %s check" % check_id))
            return None
        status = str(c.get("status"))
        if status in MEASURED:
            if judged:
                self.statuses.append(status)
                if status in ("fail", "warn"):
                    self.notes.append((check_id, "%s: %s" % ("failed" if status == "fail" else "warned",
                                                             c.get("summary"))))
            return c
        self.statuses.append(status)
        self.notes.append((check_id, "skipped: %s" % _why(c)))
        return None

    def cell(self, text: str) -> Cell:
        return Cell(text, _worst(self.statuses), tuple(self.notes))


def _facts(check: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (check or {}).get("facts") or {}


def accelerator(results: Mapping[str, Any]) -> Cell:
    r = _Reader(results)
    gpu = r.get("devices.gpu")
    if gpu is None:
        return r.cell("")
    f = _facts(gpu)
    if "gpus" not in f:  # another framework's devices (torch, JAX): its device, else the check's own words
        return r.cell(str(f.get("accelerator_device") or gpu.get("summary")))
    found = [str(g).replace("/physical_device:", "") for g in f.get("gpus") or []]
    kinds = [str(d.get("device_name")) for d in f.get("details") or [] if isinstance(d, Mapping) and
             d.get("device_name")]
    if not found:
        return r.cell("none")
    return r.cell(", ".join(found) + (" (%s)" % ", ".join(dict.fromkeys(kinds)) if kinds else ""))


def placement(results: Mapping[str, Any]) -> Cell:
    r = _Reader(results)
    parts = []
    mm = r.get("matmul.gpu", judged=False)  # its verdict is the numbers column's; here only where it ran
    if mm is not None and _facts(mm).get("placed"):
        parts.append("matmul %s" % _device(_facts(mm)["placed"]))
    step = r.get("training.placement")
    if step is not None:
        f = _facts(step)
        by_device = {str(k): int(v) for k, v in (f.get("by_device") or {}).items()}
        heavy = sorted({str(d) for kinds in (f.get("heavy") or {}).values() for d in (kinds or {})})
        total = sum(by_device.values())
        target = str(f.get("target") or "")
        on_target = sum(n for d, n in by_device.items() if d.startswith(target)) if target else 0
        if by_device:  # TensorFlow's op census
            parts.append("step %s (%d/%d ops on %s)" % ("+".join(heavy) or "?", on_target, total, target or "?"))
        elif f.get("output"):  # another framework: where the model's output lives, and ops that fell back
            fell = sorted(f.get("fallback_ops") or {})  # PyTorch warns once per process: the first op that fell back
            parts.append("step output %s%s" % (_device(f["output"]), ", ops on the CPU, at least %s" % fell[0]
                                               if fell else ""))
        else:
            parts.append("step: %s" % step.get("summary"))
    return r.cell("; ".join(parts))


def numbers(results: Mapping[str, Any]) -> Cell:
    r = _Reader(results)
    mm = r.get("matmul.gpu")
    if mm is None:
        return r.cell("")
    f = _facts(mm)
    if f.get("error_rel") is None:
        return r.cell(str(mm.get("summary")))
    tolerance = f.get("tolerance")
    if tolerance is None:  # the GPU matmul runs at the CPU reference's size and is judged by its tolerance
        tolerance = _facts(r.by_id.get("matmul.cpu")).get("tolerance")
    return r.cell("%s%s" % (_sci(f["error_rel"]), " (%s)" % _sci(tolerance) if tolerance is not None else ""))


def agreement(results: Mapping[str, Any]) -> Cell:
    r = _Reader(results)
    c = r.get("training.agreement")
    if c is None:
        return r.cell("")
    f = _facts(c)
    diffs, tols = list(f.get("relative_difference") or []), list(f.get("tolerance") or [])
    pairs = [(float(d), float(t), i + 1) for i, (d, t) in enumerate(zip(diffs, tols)) if d is not None]
    if not pairs:
        return r.cell(str(c.get("summary")))
    diff, tol, step = max(pairs, key=lambda p: p[0] / p[1] if p[1] else float("inf"))
    return r.cell("%s (%s) step %d" % (_sci(diff), _sci(tol), step))


def step_time(results: Mapping[str, Any]) -> Cell:
    r = _Reader(results)
    c = r.by_id.get("training.speed")
    if c is not None and str(c.get("status")) == "skip" and _facts(c).get("cpu_ms") is not None:
        r.get("training.speed")  # skipped, with the CPU's time measured all the same: the note says why no GPU time
        return r.cell("CPU %.2f ms" % float(_facts(c)["cpu_ms"]))
    c = r.get("training.speed")
    if c is None:
        return r.cell("")
    f = _facts(c)
    times = ["%s %.2f" % (name, float(f[key])) for name, key in (("GPU", "gpu_ms"), ("CPU", "cpu_ms"))
             if f.get(key) is not None]
    return r.cell(" / ".join(times) + " ms" if times else str(c.get("summary")))


def _speedup(results: Mapping[str, Any], check_id: str) -> Cell:
    r = _Reader(results)
    c = r.get(check_id)
    if c is None:
        return r.cell("")
    f = _facts(c)
    if f.get("speedup") is None:
        return r.cell(str(c.get("summary")))
    return r.cell("%.2f×" % float(f["speedup"]))


def matmul_speedup(results: Mapping[str, Any]) -> Cell:
    return _speedup(results, "matmul.speedup")


def training_speedup(results: Mapping[str, Any]) -> Cell:
    return _speedup(results, "training.speed")


READERS: dict[str, Callable[[Mapping[str, Any]], Cell]] = {
    "accelerator": accelerator,
    "placement": placement,
    "numbers": numbers,
    "agreement": agreement,
    "step_time": step_time,
    "matmul_speedup": matmul_speedup,
    "training_speedup": training_speedup,
}


def verify_cell(run: EnvRun) -> Cell:
    """Verify's own outcome: ``passed``; ``passed but for speed`` (only its speed gates failed); how many checks
    failed (each a note); or the error that stopped it."""
    if run.results is None:
        why = run.error or "verify wrote no results"
        return Cell("exit %s" % ("?" if run.exit_code is None else run.exit_code), "error",
                    (("verify", "verify failed: %s" % why),))
    code = run.exit_code if run.exit_code is not None else run.results.get("exit_code")
    failed = [c for c in _checks(run.results).values() if c.get("status") == "fail"]
    notes = tuple((str(c.get("id")), "failed: %s" % c.get("summary")) for c in failed)
    if code == 0:
        return Cell("passed", "pass")
    if code == 1 and failed and all(c.get("id") in SPEED_GATES for c in failed):
        return Cell("passed but for speed", "warn", tuple(
            (check, "below its speed gate (compare shows the speed, and fails nothing for it): %s" % why.split(
                ": ", 1)[1]) for check, why in notes))
    return Cell("%d failed" % len(failed) if failed else "exit %s" % code, "fail", notes)


def row(run: EnvRun, matrix: Matrix) -> Row:
    """One environment's row. Without results, every cell is empty and says why: verify's error."""
    backend, label = backend_and_label(run.results, matrix)
    verify = verify_cell(run)
    if run.results is None:
        cells = {col.id: Cell("", "error", verify.notes) for col in COLUMNS}
    else:
        cells = {col.id: READERS[col.id](run.results) for col in COLUMNS}
    return Row(run.env, run.path, backend, label, verify, cells)


def rows(runs: Sequence[EnvRun], matrix: Matrix) -> list[Row]:
    return [row(r, matrix) for r in runs]


def exit_code(table: Sequence[Row]) -> int:
    """0 when every environment verified (whatever its speed: a verify failed only by its speed gates counts as
    verified), else 1."""
    return 0 if all(r.ok for r in table) else 1


# -- the machine -----------------------------------------------------------------------------------------------

def machine(runs: Sequence[EnvRun]) -> dict[str, Any]:
    """This machine's facts, from the first results that hold them (every environment ran on it)."""
    for run in runs:
        system = ((run.results or {}).get("facts") or {}).get("system")
        if system:
            keys = ("platform", "hardware_arch", "vm", "translated", "model", "cpu_brand", "gpu", "macos_version",
                    "memory_bytes")
            return {k: system.get(k) for k in keys if system.get(k) is not None}
    return {}


def machine_line(facts: Mapping[str, Any]) -> str:
    if not facts:
        return "this machine (no environment recorded its facts)"
    parts = [str(facts.get("platform") or facts.get("hardware_arch") or "?")]
    parts += [str(facts[k]) for k in ("model", "cpu_brand", "gpu") if facts.get(k)]
    if facts.get("macos_version"):
        parts.append("macOS %s" % facts["macos_version"])
    if facts.get("vm"):
        parts.append("virtual machine")
    if facts.get("translated"):
        parts.append("under Rosetta")
    if facts.get("memory_bytes"):
        parts.append("%.0f GiB memory" % (float(facts["memory_bytes"]) / 2 ** 30))
    return ", ".join(parts)


# -- notes and rendering ---------------------------------------------------------------------------------------

def numbered_notes(table: Sequence[Row]) -> dict[str, int]:
    """Each distinct reason in the table, numbered in order of first appearance."""
    found: dict[str, int] = {}
    for r in table:
        for cell in [r.verify, *(r.cells[c.id] for c in COLUMNS)]:
            for _, why in cell.notes:
                found.setdefault(why, len(found) + 1)
    return found


def _note_checks(table: Sequence[Row]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for r in table:
        for cell in [r.verify, *(r.cells[c.id] for c in COLUMNS)]:
            for check, why in cell.notes:
                if check not in ids.setdefault(why, []):
                    ids[why].append(check)
    return ids


MARKS = {"pass": "", "warn": "! ", "fail": "✗ ", "error": "✗ ", "skip": "", "absent": ""}
ASCII = {"pass": "", "warn": "! ", "fail": "x ", "error": "x ", "skip": "", "absent": ""}


def cell_text(cell: Cell, notes: Mapping[str, int], marks: Mapping[str, str] = MARKS) -> str:
    """``✗ 3.5e-04 (1.7e-06) [2]``; a cell with no value is ``- [1]`` (never blank: the note says why)."""
    refs = "".join("[%d]" % notes[why] for why in dict.fromkeys(why for _, why in cell.notes))
    value = cell.text or "-"
    mark = marks.get(cell.status, "") if cell.text else ""
    return ("%s%s %s" % (mark, value, refs)).strip()


HEAD = ("environment", "backend and pair", "verify")


def header_and_body(table: Sequence[Row], marks: Mapping[str, str] = MARKS) -> tuple[list[str], list[list[str]]]:
    notes = numbered_notes(table)
    head = list(HEAD) + [c.title for c in COLUMNS]
    body = [[r.env, r.label, cell_text(r.verify, notes, marks)] + [cell_text(r.cells[c.id], notes, marks)
                                                                   for c in COLUMNS] for r in table]
    return head, body


def note_lines(table: Sequence[Row]) -> list[str]:
    checks = _note_checks(table)
    return ["[%d] %s (%s)" % (n, why, ", ".join(checks[why])) for why, n in numbered_notes(table).items()]


def render_text(table: Sequence[Row], machine_facts: Mapping[str, Any], marks: Mapping[str, str] = MARKS) -> str:
    """The table in columns (environments as rows), then the notes it refers to."""
    head, body = header_and_body(table, marks)
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    lines = ["compare: %d environment%s on %s" % (len(table), "" if len(table) == 1 else "s",
                                                  machine_line(machine_facts)), "",
             fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]
    notes = note_lines(table)
    if notes:
        lines += ["", "what could not be measured, and why (or what failed):"] + ["  " + n for n in notes]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(table: Sequence[Row], machine_facts: Mapping[str, Any]) -> str:
    """The same table for $GITHUB_STEP_SUMMARY."""
    head, body = header_and_body(table)
    lines = ["### invoke compare: %d environment%s" % (len(table), "" if len(table) == 1 else "s"), "",
             "On %s." % _md(machine_line(machine_facts)), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in b) + " |" for b in body]
    notes = note_lines(table)
    if notes:
        lines += ["", "What could not be measured, and why (or what failed):", ""] + ["- " + _md(n) for n in notes]
    return "\n".join(lines) + "\n\n"


def _cell_json(cell: Cell, notes: Mapping[str, int]) -> dict[str, Any]:
    return {"value": cell.text or None, "status": cell.status,
            "notes": [{"check": check, "why": why, "ref": notes[why]} for check, why in cell.notes]}


def to_json(table: Sequence[Row], runs: Sequence[EnvRun], machine_facts: Mapping[str, Any],
            options: Mapping[str, Any]) -> dict[str, Any]:
    """The versioned JSON document: the machine, the columns, each row with its cells and their notes."""
    notes = numbered_notes(table)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "compare",
        "tool_version": __version__,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": dict(machine_facts),
        "options": dict(options),
        "exit_code": exit_code(table),
        "columns": [{"id": c.id, "title": c.title, "checks": list(c.checks)} for c in COLUMNS],
        "rows": [{"env": r.env, "path": r.path, "backend": r.backend, "label": r.label,
                  "verify_exit": run.exit_code, "verify_seconds": round(run.seconds, 1),
                  "verify_counts": dict((run.results or {}).get("summary") or {}) or None,
                  "verify": _cell_json(r.verify, notes),
                  "cells": {c.id: _cell_json(r.cells[c.id], notes) for c in COLUMNS}}
                 for r, run in zip(table, runs)],
        "notes": [{"ref": n, "why": why} for why, n in notes.items()],
    }
