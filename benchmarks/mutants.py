"""Planted bugs chosen by behaviour, and whether the offline tests catch them (docs/MUTATION.md).

Each mutant is a plausible bug a developer could write: an off-by-one at a documented threshold, a precedence
swapped, a per-profile floor dropped, a repair corner case mishandled, an exit code swallowed, ``math.isnan``
where ``math.isfinite`` is meant, a JUnit failure text lost. It is data: the file, the original snippet (which
must occur exactly once), the mutated snippet, the behaviour it breaks, and the tests that should catch it.

One mutant at a time, in a private copy of the working tree (the repository itself is never edited; the tools
environment is linked, read-only use): the mutant's tests run with ``-m "not network"`` (the offline
selection, a subset of what ``make test`` runs) and it counts as killed when they fail. Before the mutants,
the union of the selected tests runs once unmutated and must pass, or no kill would mean anything.

    .tools/bin/python -m benchmarks.mutants [--only ID,ID] [--json FILE] [--list] [--tests-at REV]

``--tests-at REV`` runs the mutants against the tests as they were at git revision REV (the product code stays
the working tree's): the kill rate before the tests were added. A test file that did not exist then kills nothing.

prints one line per mutant (KILLED / SURVIVED, seconds) and the kill rate; exit 0 when at least 90 % are
killed, 1 otherwise, 2 when a mutant no longer applies (its original snippet moved: update the data).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = 0.90


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    mutated: str
    breaks: str
    tests: tuple[str, ...]


RULES = ("tests/test_boundaries.py", "tests/test_rules.py", "tests/test_training_rules.py")
TRAINING = ("tests/test_training_rules.py", "tests/test_rules.py", "tests/test_boundaries.py")
PLAN = ("tests/test_decide.py",)
JUDGE = ("tests/test_knowledge.py::test_one_judgement_per_pair",
         "tests/test_knowledge.py::test_a_user_report_of_verified_beats_a_static_cannot_load",
         "tests/test_knowledge.py::test_a_user_report_of_broken_and_a_static_cannot_load_agree",
         "tests/test_boundaries.py::test_judgement_of_recorded_pairs",
         "tests/test_boundaries.py::test_a_static_verdict_that_contradicts_the_report_disagrees")

MUTANTS: tuple[Mutant, ...] = (
    # --- checks/rules/matmul.py: thresholds, non-finite numbers, where the result came from
    Mutant("matmul-cv-boundary", "checks/rules/matmul.py",
           'if m["cv"] > MAX_CV:', 'if m["cv"] >= MAX_CV:',
           "a CV of exactly 10 % warns; the documented bound warns only above it", RULES),
    Mutant("matmul-accuracy-nan", "checks/rules/matmul.py",
           'if not m["error_rel"] <= tol:', 'if m["error_rel"] > tol:',
           "a NaN error (the device returned NaN) passes the accuracy check", RULES),
    Mutant("matmul-accuracy-inclusive", "checks/rules/matmul.py",
           'if not m["error_rel"] <= tol:', 'if not m["error_rel"] < tol:',
           "an error exactly at the fp32 tolerance fails; the bound is inclusive", RULES),
    Mutant("matmul-speedup-inclusive", "checks/rules/matmul.py",
           "if ratio < options.min_speedup:", "if ratio <= options.min_speedup:",
           "a GPU exactly at --min-speedup fails; the threshold is inclusive", RULES),
    Mutant("matmul-speedup-inverted", "checks/rules/matmul.py",
           'ratio = c["median_s"] / g["median_s"]', 'ratio = g["median_s"] / c["median_s"]',
           "the speedup is computed upside down: a fast GPU fails, a slow one passes", RULES),
    Mutant("matmul-efficiency-boundary", "checks/rules/matmul.py",
           'if fraction < t["warn_below_fraction"]:', 'if fraction <= t["warn_below_fraction"]:',
           "exactly a quarter of the chip's peak warns; only below it should", RULES),
    Mutant("matmul-fallback-whole-name", "checks/rules/matmul.py",
           'if "GPU" not in placed.rsplit("/", 1)[-1].upper():', 'if "GPU" not in placed.upper():',
           "a result placed on the CPU of a host or job whose name says gpu is taken for a GPU result", RULES),
    # --- checks/rules/training.py
    Mutant("training-loss-inf", "checks/rules/training.py",
           "if not math.isfinite(v)", "if math.isnan(v)",
           "an inf or -inf loss passes training.losses (only NaN is caught)", TRAINING),
    Mutant("training-loss-flat", "checks/rules/training.py",
           "if not values[-1] < values[0]:", "if values[-1] > values[0]:",
           "a loss that did not move at all passes as falling", TRAINING),
    Mutant("training-agreement-nan", "checks/rules/training.py",
           "if not rel <= tol:", "if rel > tol:",
           "a NaN GPU loss agrees with the CPU's trajectory", TRAINING),
    Mutant("training-tolerance-first-step", "checks/rules/training.py",
           "return 2.0 * (step + 1) * math.sqrt(WIDEST_SUM) * U32", "return 2.0 * step * math.sqrt(WIDEST_SUM) * U32",
           "off by one in the trajectory bound: the first loss must agree bit for bit", TRAINING),
    Mutant("training-fused-nan", "checks/rules/training.py",
           "if not err <= tol:", "if err > tol:",
           "a NaN dense+bias+ReLU result passes training.fused", TRAINING),
    Mutant("training-gate-inclusive", "checks/rules/training.py",
           "if options.min_train_speedup and ratio < options.min_train_speedup:",
           "if options.min_train_speedup and ratio <= options.min_train_speedup:",
           "a training step exactly at --min-train-speedup fails; the gate is inclusive", TRAINING),
    Mutant("training-equal-speed-warns", "checks/rules/training.py",
           "if ratio < 1:", "if ratio <= 1:",
           "a GPU exactly as fast as the CPU is reported slower than the CPU", TRAINING),
    # --- checks/rules/architecture.py: the metal profile's macOS floor
    Mutant("macos-floor-every-profile", "checks/rules/architecture.py",
           'if options.profile == "metal" and floor and not floor.contains(version):',
           'if floor and not floor.contains(version):',
           "the metal profile's macOS floor fails the cpu profile on an older Mac", RULES),
    Mutant("macos-floor-default-pair", "checks/rules/architecture.py",
           'versions = (facts.get("packages") or {}).get("versions") or {}\n    targets', 'versions = {}\n    targets',
           "the floor ignores the pair installed: the community pair (macOS 15) is judged against Apple's (12)",
           RULES),
    # --- checks/knowledge.py: which evidence wins
    Mutant("judge-static-beats-verified-report", "checks/knowledge.py",
           '    if pair is not None and pair.status == "verified":\n'
           '        return judged("verified", "a verified pair", pair.source)\n'
           "    if static is not None and not static.loads:\n"
           '        return judged("broken", "cannot load (%s: %s)" % (STATIC, static.short()),\n'
           '                      STATIC + " (invoke abi --tensorflow %s --metal %s)" % (tensorflow, version), '
           "static.short(),\n"
           '                      "import")\n',
           "    if static is not None and not static.loads:\n"
           '        return judged("broken", "cannot load (%s: %s)" % (STATIC, static.short()),\n'
           '                      STATIC + " (invoke abi --tensorflow %s --metal %s)" % (tensorflow, version), '
           "static.short(),\n"
           '                      "import")\n'
           '    if pair is not None and pair.status == "verified":\n'
           '        return judged("verified", "a verified pair", pair.source)\n',
           "a static cannot-load prediction overrides a user report that the pair works", JUDGE),
    Mutant("judge-claim-loses-to-static-loads", "checks/knowledge.py",
           '    if pair is not None:\n'
           '        return judged(pair.status, "%s, not verified by a user report" % pair.status, pair.source)\n'
           '    if static is not None:\n'
           '        return judged("unknown", "no report, but the %s says it loads" % STATIC, STATIC)\n',
           '    if static is not None:\n'
           '        return judged("unknown", "no report, but the %s says it loads" % STATIC, STATIC)\n'
           '    if pair is not None:\n'
           '        return judged(pair.status, "%s, not verified by a user report" % pair.status, pair.source)\n',
           "a pair Apple claims (a report) is judged as if nobody had reported it, when the wheels load", JUDGE),
    # --- checks/report.py: exit code, JUnit, annotations, shared skips
    Mutant("report-strict-ignored", "checks/report.py",
           "bad = {Status.FAIL, Status.WARN} if strict else {Status.FAIL}", "bad = {Status.FAIL}",
           "--strict no longer fails a run that warned", ("tests/test_boundaries.py",)),
    Mutant("junit-failure-text-lost", "checks/report.py",
           'type="CheckFailed").text = body', 'type="CheckFailed").text = r.summary',
           "a JUnit failure carries the summary only: its details and fix line are lost",
           ("tests/test_report_outputs.py",)),
    Mutant("junit-failure-message-title", "checks/report.py",
           'ET.SubElement(case, "failure", message=r.summary,', 'ET.SubElement(case, "failure", message=o.check.title,',
           "a JUnit failure's message is the check's title, not what went wrong", ("tests/test_report_outputs.py",)),
    Mutant("junit-warnings-count-as-failures", "checks/report.py",
           '"failures": str(c["fail"] + len(strict_failed))', '"failures": str(c["fail"] + c["warn"])',
           "the JUnit failure count includes warnings without --strict, so a green run reads as failed",
           ("tests/test_report_outputs.py",)),
    Mutant("annotations-notice-boundary", "checks/report.py",
           "if len(hits) > MAX_ANNOTATIONS:", "if len(hits) >= MAX_ANNOTATIONS:",
           "exactly five failures add a '0 more error(s)' notice", ("tests/test_report_outputs.py",)),
    Mutant("shared-skip-single", "checks/report.py",
           "s.check.family == o.check.family and s.result.reason == o.result.reason) > 1}",
           "s.check.family == o.check.family and s.result.reason == o.result.reason) > 0}",
           "a skip reason no other check shares is moved off its line into an '1 skipped' footer",
           ("tests/test_report_outputs.py", "tests/test_rules.py")),
    # --- exit codes: the checks' CLI and the invoke front door
    Mutant("cli-interrupt-exit-1", "checks/errors.py",
           "        say(interrupted)\n        return INTERRUPTED",
           "        say(interrupted)\n        return 1",
           "Ctrl-C during the checks exits 1 (a failed check), not 130", ("tests/test_boundaries.py",)),
    Mutant("cli-internal-error-exit-1", "checks/errors.py",
           '(please report it)" % (type(exc).__name__, exc))\n        return INTERNAL',
           '(please report it)" % (type(exc).__name__, exc))\n        return 1',
           "an internal error exits 1, as if a check had failed", ("tests/test_boundaries.py",)),
    Mutant("cli-json-exit-code", "checks/cli.py",
           "to_json(outcomes, options, facts, code)", "to_json(outcomes, options, facts, 0)",
           "the JSON document says exit_code 0 for a failed run", ("tests/test_boundaries.py",)),
    Mutant("tasks-pipe-closed-swallowed", "tasks.py",
           "if done.returncode in (0, 1, 2, 130, console.PIPE_CLOSED) else 2",
           "if done.returncode in (0, 1, 2, 130) else 2",
           "invoke verify | head: the checks' quiet 141 becomes 2", ("tests/test_report_outputs.py",)),
    Mutant("tasks-exit-codes-flattened", "tasks.py",
           "return done.returncode if done.returncode in (0, 1, 2, 130, console.PIPE_CLOSED) else 2",
           "return 1 if done.returncode else 0",
           "invoke verify turns the checks' exit 2 (bad usage) and 130 (Ctrl-C) into 1",
           ("tests/test_report_outputs.py",)),
    # --- scripts/plan.py: the one decision and the repair corner cases
    Mutant("decide-repairs-a-venv-that-is-not-itself", "scripts/plan.py",
           "if state is None or force or not state.own:", "if state is None or force:",
           "a venv that lost pyvenv.cfg is repaired in place (its installer would write into the base Python)",
           PLAN),
    Mutant("decide-drift-ignored", "scripts/plan.py",
           "if matches and state.ok:", "if matches:",
           "a damaged or drifted environment whose marker matches the lock gets 'nothing to do'", PLAN),
    Mutant("decide-owner-vs-marker", "scripts/plan.py",
           "if not envdir.owner_written(p.env):", "if not envdir.is_owned(p.env):",
           "a complete environment that lost its owner file is not given it back (the marker counts as owner)",
           PLAN),
    Mutant("fresh-leftover-not-removed", "scripts/plan.py",
           "stale=state is not None or _nonempty(p.env)", "stale=state is not None",
           "a leftover directory of ours without an interpreter is built into, not removed first", PLAN),
    Mutant("repair-damaged-plugin-not-rebuilt", "scripts/plan.py",
           "(set(drift.missing) | set(drift.changed) | set(drift.damaged))",
           "(set(drift.missing) | set(drift.changed))",
           "a plugin built at install time whose files are damaged is not built again", PLAN),
    Mutant("repair-plugin-reinstalled-from-main-lock", "scripts/plan.py",
           "reinstall = set(drift.damaged) - plugin_pins", "reinstall = set(drift.damaged)",
           "a damaged sdist-built plugin is asked of the main lock, which does not pin it", PLAN),
    Mutant("repair-second-tf-locked-not-rewritten", "scripts/plan.py",
           "        reinstall.add(p.target.tensorflow_pin[0])\n", "        pass\n",
           "a second TensorFlow is uninstalled but the locked one, whose files it shared, is not rewritten", PLAN),
    Mutant("up-to-date-ignores-plugin-lock", "scripts/plan.py",
           '        and marker.get("plugin_lock_sha256") == '
           '(locks.sha256(p.plugin_lock) if p.plugin_lock else None) \\\n',
           "",
           "a changed plugin lock leaves the environment judged up to date", PLAN),
    Mutant("up-to-date-ignores-python", "scripts/plan.py",
           ' else None) \\\n        and (marker.get("python") or {}).get("version") == p.interpreter.version',
           " else None)",
           "an environment built with another Python is judged up to date", PLAN),
    Mutant("sync-across-profiles", "scripts/plan.py",
           'return marker.get("profile") == p.profile and (marker.get("python") or {}).get("version") == '
           "p.interpreter.version",
           'return (marker.get("python") or {}).get("version") == p.interpreter.version',
           "a project environment of the other profile is synced in place instead of rebuilt", PLAN),
    # --- scripts/provision.py
    Mutant("marker-written-on-incomplete", "scripts/provision.py",
           "        if not after.ok:\n            raise StepFailed",
           "        if not after.own:\n            raise StepFailed",
           "setup writes the completion marker on an environment still missing packages", PLAN),
    Mutant("marker-kept-while-installing", "scripts/provision.py",
           "        envdir.unmark(p.env)\n        envdir.claim(p.env)", "        envdir.claim(p.env)",
           "a step that changes the environment keeps its completion marker: an interrupted repair looks complete",
           PLAN),
    # --- checks/completeness.py
    Mutant("versions-compared-as-text", "checks/completeness.py",
           "return Version(a) == Version(b)", "return a == b",
           "1.0 installed for a lock pinning 1.0.0 counts as another version", PLAN),
    Mutant("locked-tf-counted-as-extra", "checks/completeness.py",
           "if n in answer.installed and n not in pins", "if n in answer.installed",
           "the locked TensorFlow itself counts as a second TensorFlow", PLAN),
    Mutant("complete-despite-second-tf", "checks/completeness.py",
           "return self.own and self.drift.ok and not self.extra_tensorflows", "return self.own and self.drift.ok",
           "an environment with a second TensorFlow beside the locked one is complete", PLAN),
    Mutant("users-damage-counted", "checks/completeness.py",
           "for n, f in (damaged or {}).items() if n in locked}", "for n, f in (damaged or {}).items()}",
           "damage in a package the user installed (not locked) makes the environment incomplete",
           ("tests/test_repair_offline.py::test_drift_counts_missing_other_versions_and_damage_of_locked_distributions_only",
            *PLAN)),
    # --- checks/envlock.py
    Mutant("lock-pid-left-behind", "checks/envlock.py",
           "            os.ftruncate(fd, 0)\n            fcntl.flock(fd, fcntl.LOCK_UN)",
           "            fcntl.flock(fd, fcntl.LOCK_UN)",
           "a finished setup leaves its pid in the lock file: verify then reports a setup running", PLAN),
    Mutant("lock-other-users-setup-ignored", "checks/envlock.py",
           "    except PermissionError:  # alive, another user's\n        return pid",
           "    except PermissionError:  # alive, another user's\n        return None",
           "a live setup run by another user is taken for a dead one", PLAN),
    # --- checks/registry.py
    Mutant("gate-hides-its-own-reason", "checks/registry.py",
           'environment.setup_marker, needs=()),', "environment.setup_marker),",
           "environment.setup needs the gate it owns: a venv that lost pyvenv.cfg shows every check skipped and "
           "no failure", ("tests/test_rules.py", "tests/test_repair_offline.py::"
                           "test_verify_judges_an_env_that_lost_its_pyvenv_cfg_mid_setup_not_the_base_python")),
    # --- checks/settings.py and checks/timing.py
    Mutant("settings-inf-accepted", "checks/settings.py",
           "if not (number > 0 and math.isfinite(number)):", "if not (number > 0 and not math.isnan(number)):",
           "--min-speedup inf (or TFM_BUDGET=inf) is accepted", ("tests/test_settings.py",)),
    Mutant("timing-budget-boundary", "checks/timing.py",
           "+ samples[-1] > budget_s:", "+ samples[-1] >= budget_s:",
           "a repetition that would end exactly at the budget is not run", ("tests/test_timing.py",)),
    Mutant("timing-warmups-outside-budget", "checks/timing.py",
           "    start = time.perf_counter()\n    for _ in range(warmup):\n        run()\n",
           "    for _ in range(warmup):\n        run()\n    start = time.perf_counter()\n",
           "the warm-ups are not counted in the budget, so a run takes longer than asked", ("tests/test_timing.py",)),
)


def _copy(dest: Path) -> None:
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".tools", "*_cache", "__pycache__", "report", "*.egg-info"))
    (dest / ".tools").symlink_to(ROOT / ".tools")  # the tools environment, used as it is, never written


def _tests_at(work: Path, rev: str) -> None:
    """Replace the copy's tests/ with the tests of git revision ``rev``."""
    shutil.rmtree(work / "tests")
    archive = subprocess.run(["git", "archive", rev, "tests"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x"], cwd=work, input=archive, check=True)


def _existing(work: Path, tests: tuple[str, ...]) -> tuple[str, ...]:
    """The selected tests that exist in the copy; a test id whose file exists without that test (older tests,
    named otherwise) stands for its whole file."""
    out: list[str] = []
    for t in tests:
        file, _, name = t.partition("::")
        if not (work / file).exists():
            continue
        there = not name or ("def %s(" % name.split("[")[0]) in (work / file).read_text(encoding="utf-8")
        out.append(t if there else file)
    return tuple(dict.fromkeys(out))


def _failed(done: subprocess.CompletedProcess) -> list[str]:
    return [ln.split(" - ")[0].split(" ", 1)[1] for ln in done.stdout.splitlines()
            if ln.startswith(("FAILED ", "ERROR "))]


def _pytest(work: Path, tests: tuple[str, ...], first_failure: bool = True,
            deselect: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", *(["-x"] if first_failure else []),
                           "-p", "no:cacheprovider", "-m", "not network", *tests,
                           *[a for d in deselect for a in ("--deselect", d)]], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the selected tests")
    ap.add_argument("--tests-at", metavar="REV", help="run against the tests of this git revision")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only.split(",")]
    if args.list:
        for m in chosen:
            print("%-42s %s: %s" % (m.id, m.file, m.breaks))
        return 0
    for m in chosen:
        count = (ROOT / m.file).read_text(encoding="utf-8").count(m.original)
        if count != 1:
            print("mutant %s: its original snippet occurs %d times in %s; update it" % (m.id, count, m.file))
            return 2
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        work = Path(scratch) / "repo"
        _copy(work)
        if args.tests_at:
            _tests_at(work, args.tests_at)
        broken: tuple[str, ...] = ()  # with --tests-at: tests that fail unmutated, left out of every run
        if not args.no_baseline:
            union = _existing(work, tuple(sorted({t for m in chosen for t in m.tests})))
            done = _pytest(work, union, first_failure=False)
            if done.returncode != 0 and not args.tests_at:
                print("the selected tests fail without any mutant: fix them first\n" + done.stdout[-3000:])
                return 2
            broken = tuple(_failed(done))
            print("baseline: %s pass unmutated%s (%.0f s)" % (" ".join(union), "" if not broken else
                                                             ", but for %s (left out)" % " ".join(broken),
                                                             time.monotonic() - started), flush=True)
        for m in chosen:
            path = work / m.file
            original = path.read_text(encoding="utf-8")
            t0 = time.monotonic()
            tests = _existing(work, m.tests)
            if not tests:  # no test of this mutant's selection exists at --tests-at
                killed, failed = False, []
            else:
                try:
                    path.write_text(original.replace(m.original, m.mutated, 1), encoding="utf-8")
                    done = _pytest(work, tests, deselect=broken)
                finally:
                    path.write_text(original, encoding="utf-8")
                killed = done.returncode not in (0, 4, 5)  # 4: a test id not found, 5: none collected
                failed = _failed(done)
            results.append({"id": m.id, "file": m.file, "breaks": m.breaks, "tests": list(m.tests),
                            "killed": killed, "by": failed[:1], "seconds": round(time.monotonic() - t0, 1)})
            print("%-8s %-42s %5.1f s  %s" % ("KILLED" if killed else "SURVIVED", m.id, time.monotonic() - t0,
                                              "by " + failed[0] if failed else m.breaks), flush=True)
    killed = sum(r["killed"] for r in results)
    rate = killed / len(results) if results else 0.0
    print("SCORE %d/%d killed (%.0f %%) in %.0f s" % (killed, len(results), 100 * rate, time.monotonic() - started))
    if args.json:
        Path(args.json).write_text(json.dumps({"killed": killed, "total": len(results), "results": results},
                                              indent=2) + "\n", encoding="utf-8")
    return 0 if rate >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
