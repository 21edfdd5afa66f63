"""Boundary and branch tests: a value just inside and just outside each threshold, non-default options
end to end, and the branches no other test reaches (issue 10, item 9).

Facts here are constructed around the thresholds (see the README, "Recorded and constructed facts");
the machines and bundles they start from are the recorded ones of tests/machines.py and tests/bundles/.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from checks import cli, envdir, knowledge, platforms, timing
from checks.errors import UsageError
from checks.model import Options, Outcome, Status, fail, pass_, skip, warn
from checks.probes import packages as packages_probe
from checks.registry import CHECKS
from checks.report import exit_code
from checks.rules import matmul
from scripts import plan as planning
from tests import machines
from tests.test_rules import CPU, GPU, K, facts_for, side, tf_facts

ROOT = Path(__file__).resolve().parent.parent
VM_BUNDLE = ROOT / "tests" / "bundles" / "github-arm64-vm"  # replays to no failure
N = 2048
TOL = timing.fp32_tolerance(N)


def m1(gpu_median=0.25, cpu_median=0.5, gpu_err=1e-7, gpu_cv=0.01, cpu_cv=0.01, cpu_err=1e-7):
    g = {**side(GPU, gpu_median, err=gpu_err), "cv": gpu_cv}
    tf = tf_facts(gpu_side=g, cpu_median=cpu_median)
    tf["matmul"]["cpu"].update(cv=cpu_cv, error_rel=cpu_err)
    return facts_for(machines.M1_NATIVE, tf=tf)


def opts(**kw) -> Options:
    return Options(**{"profile": "metal", **kw})


# --- speedup: `ratio < min_speedup` fails; equal passes; the option is honoured -----------------------------

@pytest.mark.parametrize("cpu_median, min_speedup, status", [
    (0.5, 2.0, Status.PASS),      # exactly at the threshold: passes
    (0.4999, 2.0, Status.FAIL),   # just below: fails
    (0.75, 3.0, Status.PASS),
    (0.75, 3.0001, Status.FAIL),
    (0.3, 1.5, Status.FAIL),      # 1.2x: below the default 1.5
    (0.3, 1.1, Status.PASS),      # ... but passes once the user lowers the bar
])
def test_speedup_threshold_is_inclusive_and_honours_min_speedup(cpu_median, min_speedup, status):
    r = matmul.speedup(m1(gpu_median=0.25, cpu_median=cpu_median), opts(min_speedup=min_speedup), K)
    assert r.status is status, r.summary
    assert r.facts["threshold"] == min_speedup
    assert r.facts["speedup"] == pytest.approx(cpu_median / 0.25)


def test_speedup_default_threshold_is_1_5():
    assert matmul.speedup(m1(cpu_median=0.375), opts(), K).status is Status.PASS  # 1.5x
    assert matmul.speedup(m1(cpu_median=0.3749), opts(), K).status is Status.FAIL


def test_a_speedup_just_below_its_threshold_never_reads_as_equal_to_it():
    """CI printed "GPU 0.1× the CPU (...; threshold 0.1×)" for a failed 0.1156 against 0.12."""
    r = matmul.speedup(m1(gpu_median=0.25, cpu_median=0.25 * 0.1156), opts(min_speedup=0.12), K)
    assert r.status is Status.FAIL and "GPU 0.116× the CPU" in r.summary and "threshold 0.120×)" in r.summary
    r = matmul.speedup(m1(gpu_median=0.25, cpu_median=0.25 * 1.49999), opts(), K)
    assert r.status is Status.FAIL and "GPU 1.49999× the CPU" in r.summary and "threshold 1.50000×" in r.summary
    r = matmul.speedup(m1(gpu_median=0.25, cpu_median=0.25 * 43.81), opts(), K)  # a pass keeps two digits
    assert r.status is Status.PASS and "GPU 43.81× the CPU" in r.summary and "threshold 1.50×" in r.summary


def test_speedup_skips_without_a_timed_cpu_or_gpu_side():
    f = m1()
    f["tensorflow"]["matmul"]["cpu"] = {"requested": "/CPU:0", "error": "boom"}
    assert matmul.speedup(f, opts(), K).status is Status.SKIP
    f = m1()
    f["tensorflow"]["matmul"]["gpu"] = {"requested": "/GPU:0", "error": "boom"}
    assert matmul.speedup(f, opts(), K).status is Status.SKIP
    f = m1()
    del f["tensorflow"]["matmul"]["cpu"]
    assert matmul.speedup(f, opts(), K).status is Status.SKIP


# --- the CV warning: more than 10 % warns, exactly 10 % passes -------------------------------------------

@pytest.mark.parametrize("cv, status", [(0.10, Status.PASS), (0.1001, Status.WARN), (0.0999, Status.PASS)])
def test_cv_warning_threshold_on_both_sides(cv, status):
    assert matmul.MAX_CV == 0.10
    assert matmul.gpu(m1(gpu_cv=cv), opts(), K).status is status
    assert matmul.cpu(m1(cpu_cv=cv), opts(), K).status is status


def test_figures_in_the_summary_are_percent_and_seconds():
    r = matmul.gpu(m1(gpu_cv=0.2), opts(), K)
    assert r.summary.startswith("ran on GPU:0: ")
    assert matmul.cpu(m1(), opts(), K).summary.startswith("n=2048 fp32 on CPU:0: ")
    assert "CV 20.0%" in r.summary and "median 0.2500 s of 10" in r.summary and "CV 20% > 10%" in r.summary


# --- efficiency: below a quarter of the chip's FP32 peak warns --------------------------------------------

@pytest.mark.parametrize("fraction, status", [(0.25, Status.PASS), (0.2499, Status.WARN), (0.76, Status.PASS)])
def test_efficiency_warns_just_below_a_quarter_of_peak(fraction, status):
    f = m1()
    peak = K.chip(f["system"]).peak_gflops
    f["tensorflow"]["matmul"]["gpu"]["gflops"] = fraction * peak
    r = matmul.efficiency(f, opts(), K)
    assert K.chips["warn_below_fraction"] == 0.25
    assert r.status is status and r.facts["percent_of_peak"] == pytest.approx(100 * fraction)
    assert "%.2f TFLOPS" % (peak / 1000) in r.summary and "~76% at large n" in r.summary


# --- the matmul not run: why ------------------------------------------------------------------------------

def test_matmul_not_run_says_why():
    f = m1()
    f["tensorflow"] = {"not_recorded": True}
    assert matmul.cpu(f, opts(), K).summary == "not recorded in this bundle"
    f["tensorflow"] = {"stage": "import", "tensorflow": None}
    assert matmul.cpu(f, opts(), K).summary == "TensorFlow did not import"
    f = m1()
    del f["tensorflow"]["matmul"]["cpu"], f["tensorflow"]["matmul"]["gpu"]
    f["tensorflow"]["stage"] = "devices"
    assert matmul.cpu(f, opts(), K).summary == "the probe stopped at stage devices (devices.import says how)"
    assert matmul.gpu(f, opts(), K).summary == "the probe stopped at stage devices (devices.import says how)"


# --- accuracy: an error at the tolerance passes, just above it fails -------------------------------------

@pytest.mark.parametrize("factor, status", [(1.0, Status.PASS), (0.99, Status.PASS), (1.01, Status.FAIL),
                                            (2.0, Status.FAIL)])
def test_accuracy_tolerance_near_the_bound(factor, status):
    assert matmul.gpu(m1(gpu_err=TOL * factor), opts(), K).status is status
    assert matmul.cpu(m1(cpu_err=TOL * factor), opts(), K).status is status


def test_fp32_tolerance_is_sqrt_n_unit_roundoff_between_fp32_and_tf32():
    """The bound sits between the fp32 and TF32 errors measured at n=4096 (timing.fp32_tolerance's docstring):
    a TF32-sized error just 5x over it must fail, an fp32-sized one 25x under must pass."""
    tol = timing.fp32_tolerance(4096)
    assert tol == pytest.approx(64 * 2.0 ** -24)
    assert timing.fp32_tolerance(1024) == pytest.approx(tol / 2)
    assert 1.5e-7 < tol < 1.9e-5
    assert 1.9e-5 / tol < 6  # the TF32 error is near the bound, not 100x over it


def test_gpu_fallback_to_cpu_and_placement_error_fail():
    f = m1()
    f["tensorflow"]["matmul"]["gpu"]["placed"] = CPU
    assert "silent CPU fallback" in matmul.gpu(f, opts(), K).summary
    f["tensorflow"]["matmul"]["gpu"] = {"requested": "/GPU:0", "error": "no device"}
    assert matmul.gpu(f, opts(), K).status is Status.FAIL


# --- the exit code: fail is 1; warn is 1 only with strict; pass and skip are 0 ---------------------------

RESULT = {Status.PASS: pass_("ok"), Status.WARN: warn("slow", "re-run"), Status.FAIL: fail("bad", "fix it"),
          Status.SKIP: skip("n/a")}


def outcomes(*statuses: Status) -> list[Outcome]:
    return [Outcome(CHECKS[i], RESULT[s]) for i, s in enumerate(statuses)]


@pytest.mark.parametrize("statuses, plain, strict", [
    ((Status.PASS, Status.SKIP), 0, 0),
    ((Status.PASS, Status.WARN), 0, 1),
    ((Status.PASS, Status.FAIL), 1, 1),
    ((Status.WARN, Status.FAIL), 1, 1),
    ((), 0, 0),
])
def test_exit_code_mapping(statuses, plain, strict):
    assert exit_code(outcomes(*statuses)) == plain
    assert exit_code(outcomes(*statuses), strict=True) == strict


# --- python -m checks end to end: --min-speedup from the command line, environment, tfmetal.json; --strict --

def checks_run(tmp_path, *args, env=None, bundle=VM_BUNDLE):
    out = tmp_path / "out.json"
    if out.exists():
        out.unlink()
    e = {k: v for k, v in os.environ.items() if not k.startswith("TFM_")}
    e.update(env or {})
    done = subprocess.run([sys.executable, "-m", "checks", "--replay", str(bundle), "--json", str(out), *args],
                          cwd=ROOT, env=e, capture_output=True, text=True, timeout=120)
    return done, json.loads(out.read_text()) if out.exists() else None


def test_min_speedup_reaches_the_run_from_each_source(tmp_path):
    cfg = tmp_path / "tfmetal.json"
    cfg.write_text('{"min_speedup": 4.5}')
    _, doc = checks_run(tmp_path, "--min-speedup", "3.25")
    assert doc["options"]["min_speedup"] == 3.25
    _, doc = checks_run(tmp_path, env={"TFM_MIN_SPEEDUP": "2.75"})
    assert doc["options"]["min_speedup"] == 2.75
    _, doc = checks_run(tmp_path, env={"TFM_CONFIG": str(cfg)})
    assert doc["options"]["min_speedup"] == 4.5
    _, doc = checks_run(tmp_path, "--min-speedup", "3.25", env={"TFM_MIN_SPEEDUP": "2.75", "TFM_CONFIG": str(cfg)})
    assert doc["options"]["min_speedup"] == 3.25
    _, doc = checks_run(tmp_path)
    assert doc["options"]["min_speedup"] == 1.5


def test_strict_turns_a_warning_into_exit_1(tmp_path):
    import shutil

    bundle = tmp_path / "warned"
    shutil.copytree(ROOT / "tests" / "bundles" / "linux-x86_64-training", bundle)
    pk = json.loads((bundle / "packages.json").read_text())
    pk["versions"]["tensorflow-cpu"] = "2.19.0"  # altered: a TensorFlow the matrix does not pin warns
    (bundle / "packages.json").write_text(json.dumps(pk))
    done, doc = checks_run(tmp_path, bundle=bundle)
    assert doc["summary"]["warn"] >= 1 and doc["summary"]["fail"] == 0
    assert done.returncode == 0 and doc["exit_code"] == 0
    done, doc = checks_run(tmp_path, "--strict", bundle=bundle)
    assert done.returncode == 1 and doc["exit_code"] == 1 and doc["options"]["strict"] is True


def test_internal_error_is_exit_2_with_one_line(monkeypatch, capsys):
    def boom(*a, **kw):
        raise RuntimeError("made-up internal failure")

    monkeypatch.setattr(cli.knowledge, "load", boom)
    assert cli.main(["--replay", str(VM_BUNDLE)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["internal error: RuntimeError: made-up internal failure (please report it)"]


def test_usage_error_is_exit_2_and_interrupt_is_130(monkeypatch, capsys):
    assert cli.main(["--min-speedup", "-1"]) == 2

    def interrupt(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.knowledge, "load", interrupt)
    assert cli.main(["--replay", str(VM_BUNDLE)]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_help_names_the_exit_codes_settings_and_every_option():
    done = subprocess.run([sys.executable, "-m", "checks", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    out = " ".join(done.stdout.split())
    assert "exit codes: 0 nothing failed; 1 a check failed (or warned, with --strict); 2 bad usage" in out
    assert "TFM_MIN_SPEEDUP" in out and "tfmetal.json" in out
    for flag in ("--min-speedup", "--strict", "--require-gpu", "--replay", "--record", "--json", "--profile"):
        assert flag in out


# --- setup's profile choice on Apple Silicon, and apple_silicon() -----------------------------------------

def test_x86_64_python_on_apple_silicon_gets_metal_built_for_arm64():
    prof, reason = platforms.choose_profile("auto", "macos", "x86_64", True)
    assert prof == "metal" and "arm64 Python will be looked for" in reason
    assert platforms.target_arch(prof, "macos", "x86_64", True) == "arm64"
    assert platforms.target_arch("cpu", "macos", "x86_64", True) == "arm64"  # never x86_64 on Apple Silicon
    prof, _ = platforms.choose_profile("auto", "macos", "x86_64", False)  # an Intel Mac
    assert prof == "cpu" and platforms.target_arch(prof, "macos", "x86_64", False) == "x86_64"
    assert platforms.choose_profile("auto", "linux", "arm64", False)[0] == "cpu"
    with pytest.raises(UsageError):
        platforms.choose_profile("metal", "macos", "x86_64", True)


class Done:
    def __init__(self, ok, stdout):
        self.ok, self.stdout = ok, stdout


def test_apple_silicon_reads_sysctl_only_on_macos(monkeypatch):
    calls = []

    def run(cmd, timeout):
        calls.append(cmd)
        return answer

    monkeypatch.setattr(planning.process, "run", run)
    monkeypatch.setattr(planning.sys, "platform", "linux")
    answer = Done(True, "1\n")
    assert planning.apple_silicon() is False and calls == []
    monkeypatch.setattr(planning.sys, "platform", "darwin")
    assert planning.apple_silicon() is True  # `sysctl -n hw.optional.arm64` prints 1 on Apple Silicon
    assert calls == [["sysctl", "-n", "hw.optional.arm64"]]
    answer = Done(True, "0\n")
    assert planning.apple_silicon() is False
    answer = Done(False, "")  # Intel Macs have no such key: sysctl fails
    assert planning.apple_silicon() is False


# --- environment removal: only what setup created ---------------------------------------------------------

def test_remove_refuses_a_directory_setup_did_not_create(tmp_path):
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "keep.txt").write_text("user data")
    with pytest.raises(UsageError, match="refusing to delete"):
        envdir.remove(env)
    assert (env / "keep.txt").read_text() == "user data" and (env / "bin").is_dir()
    envdir.claim(env)
    envdir.remove(env)
    assert not env.exists()


def test_a_changed_lock_makes_the_env_out_of_date(tmp_path):
    env = tmp_path / "env"
    envdir.claim(env)
    (env / "bin").mkdir()
    (env / "bin" / "python").write_text("")
    lock = tmp_path / "x.lock"
    lock.write_text("tensorflow==2.19.1 --hash=sha256:aa\n")
    interp = type("I", (), {"version": "3.11.7"})()
    p = planning.Plan("cpu", "", None, interp, lock, "uv", env)  # type: ignore[arg-type]
    envdir.write_marker(env, {"profile": "cpu", "lock_sha256": planning.locks.sha256(lock),
                                   "python": {"version": "3.11.7"}})
    assert planning.up_to_date(p, envdir.read_marker(env))
    lock.write_text("tensorflow==2.19.1 --hash=sha256:bb\n")
    assert not planning.up_to_date(p, envdir.read_marker(env))
    lock.write_text("tensorflow==2.19.1 --hash=sha256:aa\n")
    assert planning.up_to_date(p, envdir.read_marker(env))
    assert not planning.up_to_date(planning.Plan("metal", "", None, interp, lock, "uv", env), envdir.read_marker(env))  # type: ignore[arg-type]


# --- binary architectures from the file header ------------------------------------------------------------

@pytest.mark.parametrize("cpu, arch", [(0x0100000C, "arm64"), (0x01000007, "x86_64"), (12, "other")])
def test_mach_o_cpu_codes(tmp_path, cpu, arch):
    """CPU_TYPE_ARM64 = CPU_TYPE_ARM (12) | CPU_ARCH_ABI64; CPU_TYPE_X86_64 = 7 | CPU_ARCH_ABI64 (mach/machine.h)."""
    f = tmp_path / "lib.dylib"
    f.write_bytes(b"\xcf\xfa\xed\xfe" + struct.pack("<I", cpu) + bytes(12))
    assert packages_probe.file_arch(str(f)) == arch


def test_elf_arch_of_this_interpreter():
    import platform

    expected = platforms.arch_name(platform.machine())
    assert packages_probe.file_arch(os.path.realpath(sys.executable)) == expected


# --- invoke matrix: every pair row carries that pair's own status and source ------------------------------

def test_invoke_matrix_rows_carry_each_pairs_status_and_source():
    done = subprocess.run([sys.executable, "-m", "invoke", "matrix"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("Known TensorFlow / plugin pairs", 1)[1].splitlines()[2:]  # after the column names
    rows: list[tuple[str, str]] = []  # each pair's row, and the source (and error) on the lines under it
    for line in table:
        if line.startswith("      "):
            rows[-1] = (rows[-1][0], rows[-1][1] + " " + line.strip())
        else:
            rows.append((line, ""))
    pairs = K.matrix.pairs
    assert len(rows) == len(pairs)
    for (row, note), p in zip(rows, pairs):
        cells = row.split()
        assert cells[:3] == [str(p.tensorflow).lstrip("="), p.plugin, str(p.metal)], row
        assert p.status in cells[3:6], row
        said = p.source + ("  [%s: %s]" % (p.phase or "import", p.error) if p.error else "")
        assert note.split() == said.split(), (row, note)


# --- the pair judgement: what the user report says of the import, and whether the static check agrees ------

@pytest.mark.parametrize("tf, metal, verdict, reported_import, agrees", [
    ("2.11.0", "0.8.0", "broken", "symbol not found in flat namespace", True),  # report and static: symbol
    ("2.12.0", "0.8.0", "verified", "loads", True),                             # both: loads
    ("2.9.0", "0.6.0", "broken", "loads", None),    # broken at run time: it imports; no static verdict
    ("2.5.0", "0.1.2", "apple-claim", None, None),  # no user report of the import
])
def test_judgement_of_recorded_pairs(tf, metal, verdict, reported_import, agrees):
    j = knowledge.judge_pair(K, tf, metal)
    assert (j.verdict, j.reported_import, j.agrees) == (verdict, reported_import, agrees)


def test_a_static_verdict_that_contradicts_the_report_disagrees():
    broken, loads = knowledge.judge_pair(K, "2.11.0", "0.8.0"), knowledge.judge_pair(K, "2.12.0", "0.8.0")
    assert broken._replace(static=loads.static).agrees is False  # report: symbol; static: loads
    assert loads._replace(static=broken.static).agrees is False  # report: loads; static: symbol
    other = broken.reported._replace(error="library not loaded")
    assert broken._replace(reported=other).agrees is False  # both cannot load, for different reasons


def test_a_broken_pair_explains_the_static_check_and_a_verified_one_does_not():
    from checks.rules import packages as rules_packages
    from tests.test_rules import packages

    f = facts_for(machines.M1_NATIVE, pkgs=packages(tf="2.11.0", metal="0.8.0"))
    r = rules_packages.metal(f, opts(), K)
    assert r.status is Status.FAIL and r.details[0].startswith("source: ")
    assert any("missing _TF_GetInputPropertiesList" in d for d in r.details[1:])
    f = facts_for(machines.M1_NATIVE, pkgs=packages(tf="2.12.0", metal="0.8.0"))
    r = rules_packages.metal(f, opts(), K)
    assert r.status is Status.PASS and not any("missing" in d for d in r.details or [])


def test_the_summary_line_counts_one_warning_in_the_singular():
    from checks.report import tally

    assert tally({"pass": 11, "warn": 1, "fail": 0, "skip": 9}) == "11 passed, 1 warning, 0 failed, 9 skipped"
    assert tally({"pass": 10, "warn": 0, "fail": 2, "skip": 9}) == "10 passed, 0 warnings, 2 failed, 9 skipped"


# --- non-finite numbers: a NaN or infinite error is never within a tolerance -----------------------------

@pytest.mark.parametrize("err", [float("nan"), float("inf")])
def test_a_non_finite_matmul_error_fails_on_either_device(err):
    """A device that returned NaN (or overflowed) computed nothing right: np.max over the errors is then NaN."""
    g = matmul.gpu(m1(gpu_err=err), opts(), K)
    assert g.status is Status.FAIL and "GPU matmul gives wrong numbers: error %.2e" % err in g.summary
    assert matmul.cpu(m1(cpu_err=err), opts(), K).status is Status.FAIL


def test_a_result_placed_on_the_cpu_of_a_host_named_gpu_is_a_fallback():
    """Only the device part of the placement counts: a job or host may carry 'gpu' in its name."""
    f = m1()
    f["tensorflow"]["matmul"]["gpu"]["placed"] = "/job:gpu-runner/replica:0/task:0/device:CPU:0"
    assert "silent CPU fallback" in matmul.gpu(f, opts(), K).summary
    f["tensorflow"]["matmul"]["gpu"]["placed"] = "/job:cpu-runner/replica:0/task:0/device:GPU:0"
    assert matmul.gpu(f, opts(), K).status is Status.PASS


# --- the metal profile's macOS floor: 12.0 itself passes; the cpu profile has none ----------------------

def macos(version: str) -> dict:
    return {"system": {"os": "macos", "macos_version": version, "macos_compat_mode": False}}


@pytest.mark.parametrize("version, profile, status", [
    ("12.0", "metal", Status.PASS), ("11.7.10", "metal", Status.FAIL), ("12.0.1", "metal", Status.PASS),
    ("11.7.10", "cpu", Status.PASS), ("10.15.7", "cpu", Status.PASS),
])
def test_the_macos_floor_is_12_0_inclusive_and_only_for_the_metal_profile(version, profile, status):
    from checks.rules import architecture

    r = architecture.macos_version(macos(version), Options(profile=profile), K)
    assert r.status is status, r.summary
    if status is Status.FAIL:
        assert r.summary.startswith("macOS %s is outside >=12.0, which tensorflow 2.19.1 + tensorflow-metal 1.2.0 "
                                    % version)


# --- environment.setup: a setup at work, and an interpreter that is not the environment's own -------------

def env_facts(tmp_path, **environment) -> dict:
    prefix = str(tmp_path / "env")
    return {"system": {}, "packages": {"environment": {"prefix": prefix, "owned": True, **environment}}}


def test_a_setup_at_work_fails_the_environment_naming_its_pid(tmp_path):
    from checks.rules import environment

    r = environment.setup_marker(env_facts(tmp_path, setup_running=4242), opts(), K)
    assert r.status is Status.FAIL and r.summary.startswith("`invoke setup` (pid 4242) is working on this environment")
    assert r.fix == ".tools/bin/invoke setup --env %s  # after pid 4242 ends: finishes it if it did not" % (
        tmp_path / "env")


def test_an_interpreter_that_answers_as_another_fails_the_environment_and_closes_the_gate(tmp_path):
    from checks.registry import GATES
    from checks.rules import environment

    (tmp_path / "env").mkdir()
    facts = env_facts(tmp_path, answers_as="/usr", marker={"profile": "cpu", "lock": "envs/locks/x.txt"})
    r = environment.setup_marker(facts, opts(), K)
    assert r.status is Status.FAIL
    assert r.summary == "not a virtual environment: %s/bin/python runs as the interpreter at /usr (its pyvenv.cfg " \
        "is missing), so nothing it reports is about this environment" % (tmp_path / "env")
    assert r.fix is not None and r.fix.startswith(".tools/bin/invoke setup --env %s " % (tmp_path / "env"))
    gated = GATES["environment"](facts, opts())
    assert gated is not None and gated.status is Status.SKIP
    assert gated.summary == gated.reason == "not judged: %s (environment.setup)" % environment.not_itself(facts)
    assert GATES["environment"](env_facts(tmp_path, answers_as=str(tmp_path / "env")), opts()) is None


@pytest.mark.parametrize("argv", [
    ["-m", "checks", "--bogus"],  # the child's parser
    ["-m", "checks", "diagnose", "/nonexistent/error.txt"],  # the child's diagnose
    ["-m", "invoke", "verify", "--bogus"],  # invoke's own parse error
    ["-m", "invoke", "setup", "--tensorflow", "abc"],  # a task's UsageError
    ["-m", "invoke", "diagnose"],  # a missing positional argument
])
def test_every_entry_point_says_an_error_with_one_prefix(argv):
    """Issue 18: `python -m checks` said `checks: error:` where invoke's tasks said `error:`; the one rule is
    ``checks.errors.error_line``, used through ``boundary`` by both."""
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
