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
from typing import Any

from checks import __version__, matrix, settings
from checks.evaluate import evaluate
from checks.model import Options
from checks.probes import packages, system, tensorflow
from checks.report import bug_report, exit_code, github_annotations, github_summary, render_text, to_json, to_junit

EPILOG = """\
exit codes: 0 nothing failed; 1 a check failed (or warned, with --strict); 2 bad usage or an
internal error.

settings: --min-speedup, --min-train-speedup, --budget and --timeout also come from TFM_MIN_SPEEDUP,
TFM_MIN_TRAIN_SPEEDUP, TFM_BUDGET and TFM_TIMEOUT, or from a JSON config file (tfmetal.json beside
tasks.py, or $TFM_CONFIG), e.g. {"min_speedup": 2.0}; the command line wins, then the environment,
then the file."""


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(message)


def positive_float(text: str) -> float:
    try:
        return settings.positive(text, "value")
    except settings.SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m checks", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Verify that this Python environment runs TensorFlow where it should: "
                            "architecture, packages, devices, a timed, checked matmul and a Keras training step.")
    p.add_argument("--profile", choices=("auto", "metal", "cpu"), default="auto",
                   help="what to expect: metal (Apple Silicon GPU) or cpu; auto reads the setup marker, "
                        "else guesses from the machine (default: auto)")
    p.add_argument("--json", metavar="FILE", help="also write every result and the facts behind it as JSON")
    p.add_argument("--require-gpu", action="store_true",
                   help="fail, instead of skip, when there is no usable GPU (CI preflight)")
    p.add_argument("--min-speedup", type=positive_float, default=None, metavar="X",
                   help="GPU must beat the CPU matmul by this factor (default: %.1f)"
                        % settings.DEFAULTS["min_speedup"])
    p.add_argument("--min-train-speedup", type=positive_float, default=None, metavar="X",
                   help="fail when a GPU training step is not this many times faster than the CPU's "
                        "(default: no gate; a GPU slower than the CPU warns)")
    p.add_argument("--budget", type=positive_float, default=None, metavar="SECONDS",
                   help="time for the training probe and the matmuls, warm-ups included, all devices together "
                        "(default: %.0f)" % settings.DEFAULTS["budget"])
    p.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="kill the TensorFlow child after this long (default: %.0f)" % settings.DEFAULTS["timeout"])
    p.add_argument("--trace", metavar="DIR",
                   help="also capture a TensorFlow profiler trace of the timed matmul and a training step")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (GitLab, Jenkins, GitHub test reporters)")
    p.add_argument("--strict", action="store_true", help="warnings fail the run too")
    p.add_argument("--record", metavar="DIR", help="also write every probe result to a bundle directory")
    p.add_argument("--replay", metavar="DIR", help="probe nothing: evaluate the checks from a recorded bundle")
    p.add_argument("--version", action="version", version="checks " + __version__)
    return p


def _profile(requested: str, pk: dict[str, Any], python: dict[str, Any]) -> str:
    """The requested profile; for auto, the setup marker's, else metal for a native macOS arm64 interpreter
    with tensorflow-metal installed (a translated process reports x86_64, so arm64 means native)."""
    if requested != "auto":
        return requested
    marker = (pk.get("environment") or {}).get("marker") or {}
    if marker.get("profile") in matrix.PROFILES:
        return marker["profile"]
    native_mac = python["system"] == "Darwin" and python["machine"] in ("arm64", "aarch64")
    return "metal" if native_mac and (pk.get("versions") or {}).get("tensorflow-metal") else "cpu"


def replayed(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Facts and recorded options from a bundle; the same pure derivation as a live run."""
    from checks import bundle

    recorded, options = bundle.read(args.replay)
    raw = recorded["raw"]
    facts = {"raw": {"system": raw}, "system": system.derive(raw), "tensorflow": recorded["tensorflow"],
             "packages": recorded["packages"] or {"not_recorded": True, "versions": {},
                                                  "environment": {"prefix": "?", "owned": False}}}
    facts["profile"] = _profile(args.profile if args.profile != "auto" else options.get("profile", "auto"),
                                facts["packages"], raw["python"])
    return facts, options


def gather(args: argparse.Namespace) -> dict[str, Any]:
    """Run every probe: the packages, then the TensorFlow child, with the machine's commands alongside it.

    The system commands (system_profiler takes a second or more on a Mac) run in a thread while the
    child imports TensorFlow; each has its own timeout.
    """
    pk = packages.collect()
    profile = _profile(args.profile, pk, system.interpreter())
    probed: dict[str, Any] = {}

    def probe_system() -> None:
        try:
            probed["raw"] = system.collect()
        except Exception as exc:  # noqa: BLE001 - re-raised in the main thread
            probed["error"] = exc

    thread = threading.Thread(target=probe_system, name="system-probe", daemon=True)
    thread.start()
    tf = tensorflow.collect(budget_s=args.budget, gpu=profile == "metal" or args.require_gpu,
                            timeout_s=args.timeout, memory_bytes=system.memory().get("available"),
                            trace_dir=os.path.abspath(args.trace) if args.trace else None)
    thread.join()
    if "error" in probed:
        raise probed["error"]
    raw = probed["raw"]
    return {"raw": {"system": raw}, "system": system.derive(raw), "packages": pk, "tensorflow": tf,
            "profile": profile}


def diagnose_main(argv: list[str]) -> int:
    """``python -m checks diagnose [FILE|-]``: explain pasted error text. 0 known, 1 unknown, 2 unreadable."""
    from checks.diagnose import diagnose, render

    if argv[:1] in (["-h"], ["--help"]):
        print("usage: python -m checks diagnose [FILE|-]\n\nExplain an error message (a file, or standard input) "
              "with the known signatures of envs/diagnoses.json.\nexit codes: 0 a known diagnosis, 1 none, 2 the "
              "file cannot be read.")
        return 0
    source = argv[0] if argv else "-"
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        found = diagnose(text)
    except OSError as exc:
        print("checks: error: cannot read %s: %s" % (source, exc.strerror), file=sys.stderr)
        return 2
    except matrix.MatrixError as exc:
        print("checks: error: %s" % exc, file=sys.stderr)
        return 2
    print(render(found))
    return 0 if found else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["diagnose"]:
        return diagnose_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        matrix.default()
        resolved = settings.resolve({"min_speedup": args.min_speedup, "budget": args.budget,
                                     "timeout": args.timeout, "min_train_speedup": args.min_train_speedup})
        cli_speedup, args.min_speedup = args.min_speedup, resolved["min_speedup"]
        args.budget, args.timeout = resolved["budget"], resolved["timeout"]
        cli_train, args.min_train_speedup = args.min_train_speedup, resolved["min_train_speedup"]
    except (UsageError, settings.SettingsError) as exc:
        print("checks: error: %s" % exc, file=sys.stderr)
        return 2
    except matrix.MatrixError as exc:
        print("checks: error: %s" % exc, file=sys.stderr)
        return 2
    try:
        recorded: dict[str, Any] = {}
        if args.replay:
            try:
                facts, recorded = replayed(args)
            except (OSError, ValueError) as exc:
                print("checks: error: cannot replay: %s" % exc, file=sys.stderr)
                return 2
        else:
            facts = gather(args)
        options = Options(profile=facts["profile"], require_gpu=args.require_gpu or recorded.get("require_gpu", False),
                          min_speedup=cli_speedup or recorded.get("min_speedup") or args.min_speedup,
                          strict=args.strict or recorded.get("strict", False),
                          min_train_speedup=cli_train or recorded.get("min_train_speedup") or args.min_train_speedup)
        if args.record:
            from checks import bundle

            bundle.write(args.record, facts, {"profile": options.profile, "require_gpu": options.require_gpu,
                                              "min_speedup": options.min_speedup, "strict": options.strict,
                                              "min_train_speedup": options.min_train_speedup})
        outcomes = evaluate(facts, options)
    except KeyboardInterrupt:
        print("checks: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - an internal error is exit 2 with one line, not a traceback
        print("checks: internal error: %s: %s (please report it)" % (type(exc).__name__, exc), file=sys.stderr)
        return 2
    code = exit_code(outcomes, options.strict)
    where = "replay of %s" % args.replay if args.replay else sys.prefix
    header = "checks %s: profile %s, Python %s at %s" % (
        __version__, options.profile, facts["system"]["python_version"], where)
    render_text(outcomes, header)
    trace = (facts.get("tensorflow") or {}).get("trace")
    if trace:
        print("Profiler trace: %s" % (trace.get("error") or "%d matmuls and %d training step on %s in %s; open it "
              "with `tensorboard --logdir %s` (Profile tab; needs the tensorboard-plugin-profile package)" % (
                  trace["reps"], trace.get("training_steps", 0), trace["device"], trace["dir"], trace["dir"])))
    if args.record:
        with open(os.path.join(args.record, "summary.md"), "w", encoding="utf-8") as fh:
            fh.write(bug_report(outcomes, header, facts["system"]))
        print("Bundle written to %s (summary.md is ready to paste into a bug report)" % args.record)
    return write_reports(args, outcomes, options, facts, code, header)


def write_reports(args: argparse.Namespace, outcomes, options: Options, facts: dict[str, Any], code: int,
                  header: str) -> int:
    """JSON, JUnit and GitHub outputs, all from the same outcomes; a file we cannot write is exit 2."""
    outputs = []
    if args.json:
        outputs.append((args.json, json.dumps(to_json(outcomes, options, facts, code), indent=2, default=str)))
    if args.junit:
        outputs.append((args.junit, to_junit(outcomes)))
    for path, text in outputs:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print("checks: error: cannot write %s: %s" % (path, exc.strerror), file=sys.stderr)
            return 2
        print("Wrote %s" % path)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(outcomes):
            print(line)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            try:
                with open(summary, "a", encoding="utf-8") as fh:
                    fh.write(github_summary(outcomes, header))
            except OSError as exc:
                print("checks: warning: cannot append to GITHUB_STEP_SUMMARY: %s" % exc.strerror, file=sys.stderr)
    return code
