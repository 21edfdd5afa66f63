"""Renderers: every output is made from the same list of outcomes."""

from __future__ import annotations

import datetime
import itertools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from checks import __version__, fixes
from checks.model import MARKS, Options, Outcome, Status

SCHEMA_VERSION = "1"
ASCII_MARKS = {Status.PASS: "[+]", Status.WARN: "[!]", Status.FAIL: "[x]", Status.SKIP: "[-]"}


def exit_code(outcomes: Sequence[Outcome], strict: bool = False) -> int:
    """0 when nothing failed (warnings too, with ``strict``), else 1."""
    bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}
    return 1 if any(o.result.status in bad for o in outcomes) else 0


def strict_failures(outcomes: Sequence[Outcome], strict: bool) -> list[Outcome]:
    """The warnings that fail this run because of ``--strict`` (none without it)."""
    return [o for o in outcomes if o.result.status == Status.WARN] if strict else []


def strict_line(outcomes: Sequence[Outcome], strict: bool) -> str:
    """``failed by --strict: 1 warning counts as a failure (matmul.cpu)``, or '' when --strict decided nothing."""
    warned = strict_failures(outcomes, strict)
    if not warned:
        return ""
    return "failed by --strict: %d warning%s count%s as a failure (%s)" % (
        len(warned), "" if len(warned) == 1 else "s", "s" if len(warned) == 1 else "",
        ", ".join(o.check.id for o in warned))


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    return {s.value: sum(o.result.status == s for o in outcomes) for s in Status}


def _marks(stream: TextIO) -> dict[Status, str]:
    try:
        "✓✗".encode(stream.encoding or "ascii")
        return MARKS
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS


COLOURS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "1;31", Status.SKIP: "2"}  # SGR: green, yellow...


def use_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal only, never with NO_COLOR set (no-color.org) or TERM=dumb."""
    environ = os.environ if environ is None else environ
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


def shared_skip_reasons(outcomes: Sequence[Outcome]) -> dict[str, str]:
    """Per check id, the skip reason (``Result.reason``, a gate's) it shares with another skipped check of its
    family: printed once."""
    skips = [o for o in outcomes if o.result.status == Status.SKIP and o.result.reason]
    return {o.check.id: o.result.reason for o in skips if o.result.reason and sum(
        1 for s in skips if s.check.family == o.check.family and s.result.reason == o.result.reason) > 1}


def render_text(outcomes: Sequence[Outcome], header: str, stream: TextIO = sys.stdout,
                colour: bool | None = None, strict: bool = False) -> None:
    """flutter-doctor style: one line per check with a mark, details and the fix indented; a skip reason that
    several checks of a family share is printed once, under the last of them."""
    marks = _marks(stream)
    colour = use_colour(stream) if colour is None else colour
    shared = shared_skip_reasons(outcomes)
    print(header, file=stream)
    for family, group in itertools.groupby(outcomes, key=lambda o: o.check.family):
        items = list(group)
        print("\n%s" % family, file=stream)
        for o in items:
            r = o.result
            mark = "\033[%sm%s\033[0m" % (COLOURS[r.status], marks[r.status]) if colour else marks[r.status]
            summary = r.summary
            if o.check.id in shared:
                summary = summary[:-len(shared[o.check.id])].rstrip("; ")
            print("  %s %s%s" % (mark, o.check.title, ": " + summary if summary else ""), file=stream)
            for line in r.details:
                print("        %s" % line, file=stream)
            if r.fix and r.status in (Status.FAIL, Status.WARN):
                for fix in fixes.lines(r.fix):  # several steps: one fix line each, in order
                    print("      fix: %s" % fix, file=stream)
            sharing = [x for x in items if shared.get(x.check.id) == shared.get(o.check.id)]
            if o.check.id in shared and o is sharing[-1]:
                print("      %d skipped: %s" % (len(sharing), shared[o.check.id]), file=stream)
    c = counts(outcomes)
    decided = strict_line(outcomes, strict)
    print("\n%d checks: %s%s" % (len(outcomes), tally(c), "; " + decided if decided else ""), file=stream)


def to_json(outcomes: Sequence[Outcome], options: Options, facts: Mapping[str, Any], code: int) -> dict[str, Any]:
    """The versioned JSON document of a run: every result, the facts behind them, the exit code."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "checks",
        "tool_version": __version__,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {"profile": options.profile, "require_gpu": options.require_gpu,
                    "min_speedup": options.min_speedup, "strict": options.strict,
                    "min_train_speedup": options.min_train_speedup},
        "summary": counts(outcomes),
        "exit_code": code,
        "checks": [o.to_json() for o in outcomes],
        "facts": facts,
    }



def to_junit(outcomes: Sequence[Outcome], total_s: float | None = None, strict: bool = False) -> str:
    """JUnit XML that GitLab, Jenkins and GitHub reporters read: the diagnosis in the element text.

    Each testcase carries the measured time of its rule; the suite's time is ``total_s``, the whole run
    (probes and the TensorFlow child included), or the sum of the testcases when not given. With ``strict``, a
    warning is a failure of type ``StrictWarning`` (counted in ``failures``), as the exit code has it."""
    from xml.etree import ElementTree as ET

    c = counts(outcomes)
    strict_failed = {o.check.id for o in strict_failures(outcomes, strict)}
    attrs = {"tests": str(len(outcomes)), "failures": str(c["fail"] + len(strict_failed)), "errors": "0",
             "skipped": str(c["skip"])}
    total = "%.6f" % (total_s if total_s is not None else sum(o.seconds for o in outcomes))
    root = ET.Element("testsuites", {"name": "tf-metal-verify", "time": total, **attrs})
    suite = ET.SubElement(root, "testsuite", {
        "name": "verify", "time": total,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **attrs})
    for o in outcomes:
        r = o.result
        case = ET.SubElement(suite, "testcase", classname="verify." + o.check.family, name=o.check.id,
                             time="%.6f" % o.seconds)
        body = "\n".join([r.summary] + r.details + (["fix: " + r.fix] if r.fix else []))
        if r.status == Status.FAIL:
            ET.SubElement(case, "failure", message=r.summary, type="CheckFailed").text = body
        elif r.status == Status.SKIP:
            ET.SubElement(case, "skipped", message=r.summary).text = body
        elif o.check.id in strict_failed:
            ET.SubElement(case, "failure", message="warning failed by --strict: " + r.summary,
                          type="StrictWarning").text = "warning (failed by --strict): " + body
        elif r.status == Status.WARN:
            ET.SubElement(case, "system-out").text = "warning: " + body
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def tally(c: dict[str, int]) -> str:
    """``11 passed, 1 warning, 0 failed, 9 skipped``."""
    return "%d passed, %d warning%s, %d failed, %d skipped" % (
        c["pass"], c["warn"], "" if c["warn"] == 1 else "s", c["fail"], c["skip"])


MAX_ANNOTATIONS = 5  # GitHub shows at most 10 errors and 10 warnings per step


def github_annotations(outcomes: Sequence[Outcome], strict: bool = False) -> list[str]:
    """``::error`` / ``::warning`` workflow commands, escaped as actions/toolkit does; with ``--strict`` deciding the
    run, one ``::error`` says so first."""
    decided = strict_line(outcomes, strict)
    lines = ["::error title=%s::%s" % (_gh_escape("--strict", prop=True), _gh_escape(decided))] if decided else []
    for status, kind in ((Status.FAIL, "error"), (Status.WARN, "warning")):
        hits = [o for o in outcomes if o.result.status == status]
        for o in hits[:MAX_ANNOTATIONS]:
            msg = o.result.summary + ("\nfix: " + o.result.fix if o.result.fix else "")
            lines.append("::%s title=%s::%s" % (kind, _gh_escape(o.check.id, prop=True), _gh_escape(msg)))
        if len(hits) > MAX_ANNOTATIONS:
            lines.append("::notice::%d more %s(s): see the job summary" % (len(hits) - MAX_ANNOTATIONS, kind))
    return lines


def github_summary(outcomes: Sequence[Outcome], header: str, strict: bool = False) -> str:
    """A markdown table for $GITHUB_STEP_SUMMARY (kept far below GitHub's 1 MiB limit)."""
    icons = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.SKIP: "⏭️"}
    rows = ["### TensorFlow environment preflight", "", header, "", "| | check | result | fix |", "|---|---|---|---|"]
    for o in outcomes:
        cell = lambda t: (t or "").replace("|", "\\|").replace("\n", " ")[:300]  # noqa: E731
        rows.append("| %s | `%s` | %s | %s |" % (icons[o.result.status], o.check.id, cell(o.result.summary),
                                                  cell(o.result.fix if o.result.status != Status.PASS else "")))
    c = counts(outcomes)
    decided = strict_line(outcomes, strict)
    rows += ["", tally(c) + ("; **%s**" % decided if decided else ""), ""]
    return "\n".join(rows)


MACHINE_FACTS = ("platform", "hardware_arch", "translated", "vm", "model", "cpu_brand", "macos_version", "gpu",
                 "python_version")


def bug_report(outcomes: Sequence[Outcome], header: str, system: Mapping[str, Any], strict: bool = False) -> str:
    """The results table and the machine's facts, for a bundle's summary.md."""
    rows = ["", "#### Machine", "", "| fact | value |", "|---|---|"]
    rows += ["| %s | %s |" % (k, system.get(k)) for k in MACHINE_FACTS if k in system]
    rows += ["", "Attach this folder (a bundle; `python -m checks --replay DIR` reads it).", ""]
    return github_summary(outcomes, header, strict) + "\n".join(rows)
