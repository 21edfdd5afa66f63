"""``python -m checks``: probe this interpreter's environment, apply the rules, report.

Exit codes: 0 nothing failed, 1 a check failed (or warned, with --strict), 2 bad usage or an
internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from checks import __version__, knowledge, nextsteps, outputs, platforms, settings
from checks.errors import UsageError, boundary
from checks.evaluate import evaluate
from checks.facts import Facts, PackagesFacts
from checks.model import Options, Outcome
from checks.probes import framework, imports, packages, system, tensorflow
from checks.report import bug_report, exit_code, github_annotations, github_summary, render_text, to_json, to_junit

EPILOG = """\
exit codes: 0 nothing failed; 1 a check failed (or warned, with --strict); 2 bad usage or an
internal error.

settings: --min-speedup, --min-train-speedup, --budget and --timeout also come from TFM_MIN_SPEEDUP,
TFM_MIN_TRAIN_SPEEDUP, TFM_BUDGET and TFM_TIMEOUT, or from a JSON config file (tfmetal.json beside
tasks.py, or $TFM_CONFIG), e.g. {"min_speedup": 2.0}; the command line wins, then a replayed bundle's
recorded options, then the environment, then the file."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise UsageError(message)


def positive_float(text: str) -> float:
    try:
        return settings.positive(text, "value")
    except settings.SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None


def build_parser() -> argparse.ArgumentParser:
    """The parser, from verify's options (``settings.VERIFY_OPTIONS``) plus the child's own."""
    p = _Parser(prog="python -m checks", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Verify that this Python environment runs TensorFlow where it should: "
                            "architecture, packages, devices, a timed, checked matmul and a Keras training step.")
    for opt in settings.VERIFY_OPTIONS:
        if opt.kind == "flag":
            p.add_argument(opt.flag, action="store_true", help=opt.help)
        elif opt.kind == "choice":
            p.add_argument(opt.flag, choices=opt.choices, default=opt.choices[0], help=opt.help)
        else:
            p.add_argument(opt.flag, type=positive_float if opt.kind == "number" else str, default=None,
                           metavar=opt.metavar, help=opt.help)
    p.add_argument("--record", metavar="DIR", help="also write every probe result to a bundle directory")
    p.add_argument("--replay", metavar="DIR", help="probe nothing: evaluate the checks from a recorded bundle")
    p.add_argument("--version", action="version", version="checks " + __version__)
    return p


def _profile(requested: str, pk: PackagesFacts, python: dict[str, Any], k: knowledge.Knowledge) -> str:
    """``--profile auto``: the marker's, else metal where a GPU plugin of the matrix (every name each is installed
    under, former names included) is installed on a native Apple Silicon interpreter."""
    marker = (pk.get("environment") or {}).get("marker") or {}
    installed = {**(pk.get("distributions") or {}), **{n: v for n, v in (pk.get("versions") or {}).items() if v}}
    return platforms.installed_profile(requested, marker.get("profile"), platforms.os_name(python["system"]),
                                       platforms.arch_name(python["machine"]),
                                       any(installed.get(n) for n in k.matrix.installed_names))


@dataclass(frozen=True)
class Session:
    """What a run evaluates: the facts (live or replayed) and the options settled by the one precedence rule."""

    facts: Facts
    options: Options
    where: str


def open_session(args: argparse.Namespace, k: knowledge.Knowledge) -> Session:
    """Replay a bundle or probe this environment; settle the options (command line > bundle > env > file)."""
    recorded: dict[str, Any] = {}
    bundle_facts: dict[str, Any] = {}
    if args.replay:
        from checks import bundle

        try:
            bundle_facts, recorded = bundle.read(args.replay)
        except (OSError, ValueError) as exc:
            raise UsageError("cannot replay: %s" % exc) from None
    values = settings.settle(vars(args), recorded)
    facts = replayed(bundle_facts, values["profile"], k) if args.replay else gather(args, values, k)
    options = Options(profile=facts["profile"], require_gpu=values["require_gpu"],
                      min_speedup=values["min_speedup"], strict=values["strict"],
                      min_train_speedup=values["min_train_speedup"])
    return Session(facts, options, "replay of %s" % args.replay if args.replay else sys.prefix)


def replayed(recorded: dict[str, Any], requested: str, k: knowledge.Knowledge) -> Facts:
    """Facts from a bundle's files; the same pure derivation as a live run."""
    raw = recorded["raw"]
    missing: PackagesFacts = {"not_recorded": True, "versions": {}, "environment": {"prefix": "?", "owned": False}}
    pk: PackagesFacts = recorded["packages"] or missing
    derived = system.derive(raw)
    facts: Facts = {"raw": {"system": raw}, "system": derived, "tensorflow": recorded["tensorflow"],
                    "packages": pk, "profile": _profile(requested, pk, raw["python"], k),
                    "backend": framework.decide(pk, derived["platform"], k.matrix)}
    if recorded.get("framework") is not None:
        facts["framework"] = recorded["framework"]
    return facts


def gather(args: argparse.Namespace, values: dict[str, Any], k: knowledge.Knowledge) -> Facts:
    """Run every probe: the packages, then the TensorFlow child, with the machine's commands alongside it.

    The system commands (system_profiler takes a second or more on a Mac) run in a thread while the
    child imports TensorFlow; each has its own timeout.
    """
    pk = packages.collect(k.matrix)
    profile = _profile(values["profile"], pk, system.interpreter(), k)
    probed: dict[str, Any] = {}

    def probe_system() -> None:
        try:
            probed["raw"] = system.collect()
        except Exception as exc:  # noqa: BLE001 - re-raised in the main thread
            probed["error"] = exc

    thread = threading.Thread(target=probe_system, name="system-probe", daemon=True)
    thread.start()
    here = system.interpreter()
    backend = framework.decide(pk, platforms.platform_key(platforms.os_name(here["system"]),
                                                           platforms.arch_name(here["machine"])), k.matrix)
    if not framework.is_tensorflow(backend):  # Keras 3 on PyTorch or JAX: its own child, no TensorFlow
        fw = framework.collect(backend, budget_s=values["budget"], timeout_s=values["timeout"],
                               memory_bytes=system.memory().get("available"))
        thread.join()
        if "error" in probed:
            raise probed["error"]
        raw = probed["raw"]
        return {"raw": {"system": raw}, "system": system.derive(raw), "packages": pk, "backend": backend,
                "framework": fw, "tensorflow": {"not_recorded": True}, "profile": profile}
    tf = tensorflow.collect(budget_s=values["budget"], gpu=profile == "metal" or values["require_gpu"],
                            timeout_s=values["timeout"], memory_bytes=system.memory().get("available"),
                            trace_dir=os.path.abspath(args.trace) if args.trace else None)
    found = imports.project_modules((pk.get("environment") or {}).get("marker"))
    if found is not None and (tf.get("tensorflow") or {}).get("version"):  # TensorFlow imports: try the project's
        tf["project_imports"] = imports.collect(sys.executable, found,
                                                min(values["timeout"], imports.IMPORT_TIMEOUT_S))
    elif found is not None:
        tf["project_imports"] = {**found, "orders": {}, "not_run": "TensorFlow did not import"}
    thread.join()
    if "error" in probed:
        raise probed["error"]
    raw = probed["raw"]
    return {"raw": {"system": raw}, "system": system.derive(raw), "packages": pk, "tensorflow": tf,
            "backend": backend, "profile": profile}


def diagnose_main(argv: list[str], k: knowledge.Knowledge | None = None) -> int:
    """``python -m checks diagnose [FILE|-]``: explain pasted error text.

    Exit 0 known (errors, or only harmless lines), 1 unknown, 2 unreadable."""
    from checks.diagnose import render

    if argv[:1] in (["-h"], ["--help"]):
        print("usage: python -m checks diagnose [FILE|-]\n\nExplain an error message (a file, or standard input) "
              "with the known signatures of envs/diagnoses.json.\nexit codes: 0 a known diagnosis (or only known "
              "harmless lines), 1 none, 2 the "
              "file cannot be read.")
        return 0
    source = argv[0] if argv else "-"
    try:
        if source == "-":
            if sys.stdin.isatty():
                print("Paste the error text, then press Ctrl-D on a line of its own (Ctrl-Z, Enter on Windows):",
                      file=sys.stderr, flush=True)
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
    except OSError as exc:
        raise UsageError("cannot read %s: %s" % (source, exc.strerror)) from None
    if "\x00" in text:
        raise UsageError("%s is not text (it holds NUL bytes): give the file that holds the error text, or paste it "
                         "after `invoke diagnose -`" % ("standard input" if source == "-" else source))
    if not text.strip():
        raise UsageError("no text to diagnose: %s holds none; give the file that holds the error text, or paste it "
                         "after `invoke diagnose -`" % ("standard input" if source == "-" else source))
    found = (k or knowledge.load()).diagnose(text)
    print(render(found))
    return 0 if found else 1


STARTED = time.monotonic()


def main(argv: list[str] | None = None) -> int:
    """parse -> session (live or replay) -> evaluate -> render and write; every error is one line."""
    argv = sys.argv[1:] if argv is None else argv
    say = lambda line: print(line, file=sys.stderr)  # noqa: E731 - one sink, two boundaries
    if argv[:1] == ["diagnose"]:
        return boundary(lambda: diagnose_main(argv[1:]), say=say)
    def run() -> int:
        args = build_parser().parse_args(argv)
        outputs.check(json=args.json, junit=args.junit, record=args.record, trace=args.trace)  # before any probe
        k = knowledge.load()
        session = open_session(args, k)
        outcomes = evaluate(session.facts, session.options, k)
        return render_and_write(args, session, outcomes)

    return boundary(run, say=say)


def render_and_write(args: argparse.Namespace, session: Session, outcomes: list[Outcome]) -> int:
    """The text report, then the bundle, JSON, JUnit and GitHub outputs, all from the same outcomes."""
    facts, options = session.facts, session.options
    code = exit_code(outcomes, options.strict)
    unknown = args.replay and args.profile == "auto" and (facts.get("packages") or {}).get("not_recorded")
    header = "checks %s: profile %s, Python %s at %s" % (
        __version__, "not recorded" if unknown else options.profile, facts["system"]["python_version"], session.where)
    render_text(outcomes, header, strict=options.strict)
    trace = (facts.get("tensorflow") or {}).get("trace")
    if trace:
        print(nextsteps.trace_line(trace))
    outputs = []
    if args.record:
        from checks import bundle

        bundle.write(args.record, facts, {"profile": options.profile, "require_gpu": options.require_gpu,
                                          "min_speedup": options.min_speedup, "strict": options.strict,
                                          "min_train_speedup": options.min_train_speedup})
        outputs.append((os.path.join(args.record, "summary.md"), bug_report(outcomes, header, facts["system"],
                                                                            options.strict)))
    if args.json:
        outputs.append((args.json, json.dumps(to_json(outcomes, options, facts, code), indent=2, default=str)))
    if args.junit:
        outputs.append((args.junit, to_junit(outcomes, time.monotonic() - STARTED, options.strict)))
    for path, text in outputs:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError("cannot write %s: %s" % (path, exc.strerror)) from None
        print("Bundle written to %s (summary.md is ready to paste into a bug report)" % args.record
              if path.endswith("summary.md") and args.record else "Wrote %s" % path)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(outcomes, options.strict):
            print(line)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            try:
                with open(summary, "a", encoding="utf-8") as fh:
                    fh.write(github_summary(outcomes, header, options.strict))
            except OSError as exc:
                print("checks: warning: cannot append to GITHUB_STEP_SUMMARY: %s" % exc.strerror, file=sys.stderr)
    print_closing_lines(args, facts, outcomes, code, options.strict)
    return code


def print_closing_lines(args: argparse.Namespace, facts: Facts, outcomes: list[Outcome], code: int,
                        strict: bool) -> None:
    """The last lines: after a live green run in an environment, how to use it; after a failure, the next command."""
    if code == 0 and not args.replay and nextsteps.is_environment():
        marker = ((facts.get("packages") or {}).get("environment") or {}).get("marker")
        print("\n" + "\n".join(nextsteps.after_green(Path(sys.prefix), marker)))
    elif code:
        line = nextsteps.next_command(outcomes, strict)
        if line:
            print("\n" + line)
