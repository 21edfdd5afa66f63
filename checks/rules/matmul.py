"""The matmul: right numbers on the CPU, and on the GPU really placed there, right, and faster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from checks import fixes
from checks.facts import Facts, Matmul, MatmulSide
from checks.knowledge import Knowledge
from checks.model import Options, Result, Status, fail, pass_, skip, warn
from checks.rules.common import (
    NOT_RECORDED,
    child,
    child_imported,
    explained,
    framework_label,
    gpu_gate,
    gpu_platform,
    is_metal,
    is_tensorflow,
    no_metal_reason,
    not_known,
    on_accelerator,
    speedup_texts,
    vm_advisory,
)


def _side(facts: Facts, device: Literal["cpu", "gpu"]) -> MatmulSide | None:
    mm: Matmul = child(facts).get("matmul") or {}
    return mm.get(device)


def _figures(m: Mapping[str, Any]) -> str:
    return "%.1f GFLOP/s (median %.4f s of %d, CV %.1f%%), error %.1e" % (
        m["gflops"], m["median_s"], m["reps"], 100 * m["cv"], m["error_rel"])


MAX_CV = 0.10  # docs/facts/performance.md#timing: flag timings whose spread exceeds 10 %


def ungated(facts: Facts, options: Options) -> str | None:
    """Why the matmul timings gate nothing in this run (None when the speedup is judged from them): no GPU to
    compare with (the cpu profile, Linux...), or a macOS VM, where speed is never gated."""
    gate = gpu_gate(facts, options, "timing")
    if gate is not None:  # the reason there is no GPU, not the gate's own words (--require-gpu's failure)
        why = no_metal_reason(facts, options.profile) if is_tensorflow(facts) else gate.reason
        return "no GPU speedup is judged here (%s)" % (why or gate.summary)
    return vm_advisory(facts)


def _timed_result(summary: str, m: Mapping[str, Any], facts: Mapping[str, Any], env: str,
                  info: str | None = None) -> Result:
    """Pass, or warn when the repetitions scattered too much for the figure to be trusted; a figure that gates
    nothing (``info`` says why) only notes its scatter."""
    if m["cv"] > MAX_CV and info:
        return pass_(summary, details=["timing disturbed (CV %.0f%% > %.0f%%), information only: %s" % (
            100 * m["cv"], 100 * MAX_CV, info)], facts=facts)
    if m["cv"] > MAX_CV:
        return warn(summary + " — timing disturbed (CV %.0f%% > %.0f%%)" % (100 * m["cv"], 100 * MAX_CV),
                    fixes.command("verify", "--budget", "5", env=env,
                                  why="a longer run, on an idle machine (load, heat, Low Power Mode scatter timings)"),
                    facts=facts)
    return pass_(summary, facts=facts)


def _not_run(facts: Facts) -> Result:
    stage = child(facts).get("stage")
    if child(facts).get("not_recorded"):
        return skip(NOT_RECORDED)
    label = framework_label(facts)
    if child_imported(facts) and stage == "done":
        return skip("%s listed no GPU to run it on (devices.gpu)" % label)
    if not child_imported(facts):
        return skip("%s did not import" % label)
    return skip("the probe stopped at stage %s (devices.import says how)" % stage)


def _accuracy_fail(m: Mapping[str, Any], n: int, tol: float, where: str, env: str) -> Result | None:
    if not m["error_rel"] <= tol:  # NaN fails too: a device that returned NaN computed nothing right
        return fail("%s matmul gives wrong numbers: error %.2e exceeds the fp32 tolerance %.2e (n=%d)"
                    % (where, m["error_rel"], tol, n),
                    fixes.command("report", "--out", "matmul-bug", env=env,
                                  why="a bundle for a bug report; do not trust this device's results"),
                    facts=m)
    return None


def cpu(facts: Facts, options: Options, k: Knowledge) -> Result:
    m = _side(facts, "cpu")
    if m is None:
        return _not_run(facts)
    if "error" in m:
        return fail("CPU matmul failed: %s" % m["error"], fixes.command(
            "report", "--out", "matmul-bug", env=fixes.env_of(facts), why="the bundle holds the probe's stderr"),
            facts=m)
    mm = child(facts)["matmul"]
    bad = _accuracy_fail(m, mm["n"], mm["tolerance"], "CPU", fixes.env_of(facts))
    return bad or _timed_result("n=%d fp32 on %s: %s" % (mm["n"], m["placed"].split("device:")[-1], _figures(m)),
                                m, {**m, "n": mm["n"], "tolerance": mm["tolerance"]},
                                fixes.env_of(facts), ungated(facts, options))


def _gpu_side(facts: Facts) -> MatmulSide | Result:
    """The GPU side of the matmul probe (where there is a GPU: the registry's gpu gate), or why it did not run."""
    m = _side(facts, "gpu")
    return _not_run(facts) if m is None else m


def gpu(facts: Facts, options: Options, k: Knowledge) -> Result:
    m = _gpu_side(facts)
    if isinstance(m, Result):
        return m
    if "error" in m:
        return explained(fail("%s refused to place the matmul on %s: %s" % (framework_label(facts), m["requested"],
                                                                           m["error"]),
                              None, details=["the GPU is not usable: see the devices check"], facts=m),
                         m["error"], k, facts, options)
    placed = m["placed"]
    if not on_accelerator(placed):
        return fail("requested %s but the result came from %s: a silent CPU fallback" % (m["requested"], placed),
                    None, details=["the GPU is not doing the work: see the devices and packages checks"],
                    facts=m)
    mm = child(facts)["matmul"]
    bad = _accuracy_fail(m, mm["n"], mm["tolerance"], "GPU", fixes.env_of(facts))
    advisory = vm_advisory(facts)
    result = bad or _timed_result("ran on %s: %s" % (placed.split("device:")[-1], _figures(m)), m, m,
                                  fixes.env_of(facts), advisory)
    if advisory and result.status == Status.PASS:  # a right answer from the paravirtual GPU: say where it came from
        return Result(result.status, result.summary + " (macOS VM: correctness judged, speed not gated)",
                      result.details + not_known(facts, "matmul.gpu"), result.fix, result.facts)
    return result


def speedup(facts: Facts, options: Options, k: Knowledge) -> Result:
    g = _gpu_side(facts)
    if isinstance(g, Result):
        return g
    c = _side(facts, "cpu")
    if "error" in g or c is None or "error" in c:
        return skip("no timed GPU and CPU matmul to compare")
    ratio = c["median_s"] / g["median_s"]
    keep = {"speedup": ratio, "threshold": options.min_speedup, "cpu_gflops": c["gflops"], "gpu_gflops": g["gflops"]}
    shown, bar = speedup_texts(ratio, options.min_speedup)
    summary = "GPU %s the CPU (%.0f vs %.0f GFLOP/s; threshold %s)" % (shown, g["gflops"], c["gflops"], bar)
    advisory = vm_advisory(facts)
    if advisory:
        return skip("%s; %s" % (summary, advisory), facts=keep)
    if ratio < options.min_speedup:
        return fail(summary, None, details=["a GPU barely faster than the CPU is not doing the work (throttled, "
                                            "Low Power Mode, or a virtual GPU); lower the bar with --min-speedup "
                                            "only if you know why"],
                    facts=keep)
    return pass_(summary, facts=keep)


def efficiency(facts: Facts, options: Options, k: Knowledge) -> Result:
    """How close to the chip's FP32 peak the GPU matmul ran; warns far below tensorflow-metal's usual."""
    g = _gpu_side(facts)
    if isinstance(g, Result):
        return g
    if "error" in g:
        return skip("no timed GPU matmul")
    if not is_metal(facts):  # the chip table holds Apple GPUs' peaks only
        return skip("%.0f GFLOP/s on %s: no FP32 peak known for it (envs/chips.json lists Apple GPUs)" % (
            g["gflops"], gpu_platform(facts)), facts={"gpu_gflops": g["gflops"], "platform": gpu_platform(facts)})
    advisory = vm_advisory(facts)
    if advisory:
        return skip("%.0f GFLOP/s; %s" % (g["gflops"], advisory), facts={"gpu_gflops": g["gflops"]})
    c = k.chip(facts["system"])
    keep = {"gpu_gflops": g["gflops"], "chip": c.to_json()}
    if not c.peak_gflops:
        return skip("%.0f GFLOP/s; %s" % (g["gflops"], c.note), facts=keep)
    t = k.chips
    fraction = g["gflops"] / c.peak_gflops
    keep.update({"percent_of_peak": 100 * fraction, "peak_gflops": c.peak_gflops})
    summary = "%.0f GFLOP/s = %.0f%% of the %s's %.2f TFLOPS FP32 peak (tensorflow-metal: ~%.0f%% at large n)" % (
        g["gflops"], 100 * fraction, c.name, c.peak_gflops / 1000, 100 * t["tfmetal_typical_fraction"])
    if fraction < t["warn_below_fraction"]:
        return warn(summary, fixes.command("verify", "--budget", "5", env=fixes.env_of(facts),
                                           why="far below normal: check Low Power Mode, the power adapter and heat"),
                    facts=keep)
    return pass_(summary, facts=keep)
