"""The training family: a Keras model as users write it, where its ops ran, its numbers and its speed.

The facts come from ``checks/probes/training.py`` (inside the TensorFlow child): per device
(``cpu``, and ``gpu`` on the metal profile) the losses of ``steps`` training steps, their times and the
census of the first step (op types counted by device); and the graph-mode dense+bias+ReLU (``fused``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from checks import fixes, timing
from checks.facts import Facts, Training, TrainingRun
from checks.knowledge import Knowledge, TrainingKnowledge
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
    listed_gpus,
    speedup_texts,
    vm_advisory,
)

U32 = 2.0 ** -24  # fp32 unit roundoff
WIDEST_SUM = 14 * 14 * 8  # the longest dot product of the probe's model: Dense(32) over the flattened conv output


def trajectory_tolerance(step: int) -> float:
    """Allowed relative difference between two correct fp32 loss trajectories at ``step`` (0 = the first loss).

    One forward pass rounds each dot product with a relative error of about sqrt(K)·u (K the inner size,
    u = 2^-24; the random-rounding model behind the matmul tolerance), and the loss inherits the widest
    one, K = 1568 here. Each step's update carries an error of that order into the weights; with a small,
    stable learning rate these add rather than grow over a few steps, so the loss at step t carries up to
    t+1 of them. Two devices each drift from the exact trajectory: 2·(t+1)·sqrt(K)·u, from 4.7e-6 at the
    first loss to 4.7e-5 at the tenth. Measured here (docs/BENCHMARKS.md, benchmarks/training_tolerance.py):
    fp32 against float64 and oneDNN on against off stay below 1 % of it; inputs and weights cut to 8
    mantissa bits (a bfloat16-like path) exceed it at every step by 7× or more.
    """
    return 2.0 * (step + 1) * math.sqrt(WIDEST_SUM) * U32


def heavy_counts(ops: Mapping[str, Mapping[str, int]], t: TrainingKnowledge) -> dict[str, dict[str, int]]:
    """Heavy ops (``envs/training.json``) counted by kind and device: ``{"matmul": {"GPU:0": 6}, ...}``."""
    out: dict[str, dict[str, int]] = {}
    for device, counts in ops.items():
        for op, n in counts.items():
            kind = t.heavy_kind(op)
            if kind:
                out.setdefault(kind, {}).setdefault(device, 0)
                out[kind][device] += n
    return out


def _heavy_text(heavy: dict[str, dict[str, int]]) -> str:
    return "; ".join("%s %s" % (kind, ", ".join("%d on %s" % (n, d) for d, n in sorted(where.items())))
                     for kind, where in heavy.items())


def _training(facts: Facts) -> Training | None:
    """The training probe's facts; None when it did not run or failed as a whole (``_not_run`` says which)."""
    tr = child(facts).get("training")
    return None if tr is None or "error" in tr else tr


def _not_run(facts: Facts) -> Result:
    tf = child(facts)
    if "error" in (tf.get("training") or {}):
        return skip("the training probe failed: see training.losses")
    if tf.get("not_recorded"):
        return skip(NOT_RECORDED)
    if not child_imported(facts):
        return skip("%s did not import" % framework_label(facts))
    if tf.get("stage") != "done":  # it got there, or not, and died: devices.import judges how
        return skip("the probe stopped at stage %s, before its training results (devices.import says how)"
                    % tf.get("stage"))
    return skip("no training probe in this recording (made by a version without it)")


def _target(tr: Training) -> TrainingRun:
    """The run on the device under test: the GPU when the probe trained there, else the CPU."""
    return tr["gpu"] if "gpu" in tr else tr["cpu"]


def _runs(tr: Training) -> list[tuple[str, TrainingRun]]:
    """(side, run) for the CPU, then the GPU, for those the probe trained on."""
    return [(side, run) for side, run in (("cpu", tr.get("cpu")), ("gpu", tr.get("gpu"))) if run is not None]


def _bug(facts: Facts, why: str) -> str:
    """The fix of a device fault: a report bundle to attach to a bug report."""
    return fixes.command("report", "--out", "training-bug", env=fixes.env_of(facts), why=why)


def _label(run: Mapping[str, Any]) -> str:
    return str(run.get("requested", "?")).strip("/")


def _size(tr: Training) -> str:
    m = tr["model"]
    return "%s-parameter model, batch %d" % (format(m["params"], ","), m["input"][0])


def losses(facts: Facts, options: Options, k: Knowledge) -> Result:
    """Every loss finite and the last lower than the first, on every device the probe trained on."""
    broken = (child(facts).get("training") or {}).get("error")
    if broken:
        return fail("the training probe failed before training: %s" % broken,
                    fixes.repair(facts, why="reinstalls the locked Keras; see packages.consistency"),
                    facts={"error": broken})
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    parts: list[str] = []
    keep: dict[str, Any] = {"model": tr["model"], "steps": tr["steps"]}
    for side, run in _runs(tr):
        if "error" in run:
            return explained(fail("training on %s failed: %s" % (_label(run), run["error"]),
                                  _bug(facts, "the bundle holds the probe's stderr"), facts=run),
                             run["error"], k, facts, options)
        values = run["losses"]
        keep[side] = values
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bad is not None:
            return fail("training on %s: loss is %s at step %d of %d (steps before: %s)" % (
                _label(run), values[bad], bad + 1, len(values), ", ".join("%.4f" % v for v in values[:bad]) or "none"),
                _bug(facts, "a NaN or inf loss from fixed data and weights is a numerical fault of this device's "
                     "kernels (a host/GPU race in optimizer slots did this on tensorflow-metal-plugin)"),
                facts=keep)
        if not values[-1] < values[0]:
            return fail("training on %s: the loss did not fall in %d steps (%.4f -> %.4f)" % (
                _label(run), len(values), values[0], values[-1]),
                _bug(facts, "Adam on a fixed batch must lower the loss"),
                facts=keep)
        parts.append("%s %.4f -> %.4f" % (_label(run), values[0], values[-1]))
    return pass_("%s over %d steps (%s, %s)" % ("; ".join(parts), tr["steps"], tr["model"]["optimizer"], _size(tr)),
                 details=[tr["model"]["layers"]], facts=keep)


def placement(facts: Facts, options: Options, k: Knowledge) -> Result:
    """Where the ops of a training step ran: heavy ops on the target pass; on the CPU, warn; all on the CPU, fail."""
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    side = "gpu" if "gpu" in tr else "cpu"
    run = _target(tr)
    if "error" in run:
        return skip("no training step on %s to count" % _label(run))
    census = run["census"]
    if "error" in census:
        return warn("no census: %s" % census["error"], _bug(facts, "a bundle for a bug report"),
                    facts=census)
    by_device, ops = census["by_device"], census["ops"]
    counts = ", ".join("%d on %s" % (n, d) for d, n in by_device.items())
    target = "GPU" if side == "gpu" else "CPU"
    heavy_by_kind = heavy_counts(ops, k.training)
    keep: dict[str, Any] = {"target": target, "heavy": heavy_by_kind, **census}
    if side == "cpu":
        return pass_("target CPU (cpu profile): %d ops of the step, %s" % (sum(by_device.values()), counts),
                     details=["heavy ops: " + _heavy_text(heavy_by_kind)], facts=keep)
    on_gpu = sum(n for d, n in by_device.items() if d.upper().startswith("GPU"))
    gate = gpu_gate(facts, options, "the training step had no GPU to run on") if not on_gpu else None
    if gate:  # no GPU on this machine or profile: a rebuild cannot help, and the gate says why once
        return gate
    if not on_gpu and not listed_gpus(facts):  # TensorFlow listed none: devices.gpu says why and what helps
        return skip("the training step ran on the CPU: TensorFlow listed no GPU (see devices.gpu): %s" % counts,
                     facts=keep)
    if not on_gpu:
        return fail("the whole training step ran on the CPU although the GPU was the target (%s)" % counts,
                    fixes.repair(facts, "--force", why="reinstalls the pinned pair (see devices.gpu, packages.metal)"),
                    facts=keep)
    host = {op: n for d, c in ops.items() if not d.upper().startswith("GPU") for op, n in c.items()}
    heavy = sorted(op for op in host if k.training.heavy_kind(op))
    light = sorted(set(host) - set(heavy))
    keep.update(heavy_on_cpu=heavy, other_on_cpu=light)
    if heavy:
        version = ((facts.get("tensorflow") or {}).get("tensorflow") or {}).get("version")

        def reason(op: str) -> str:  # envs/training.json's reasons are about the Metal plugins
            return k.training.host_reason(op, version) if is_metal(facts) else (
                "the GPU's plugin (%s) has no kernel for it, so soft placement moved it to the CPU"
                % gpu_platform(facts))
        return warn("%d of the step's heavy ops ran on the CPU, not the GPU: %s (%s)" % (
            sum(host[op] for op in heavy), ", ".join("%s ×%d" % (op, host[op]) for op in heavy), counts),
            details=["%s: %s" % (op, reason(op)) for op in heavy]
            + ["correct but slower; nothing to fix in this environment unless a newer plugin or TensorFlow adds "
               "the kernels"],
            facts=keep)
    return pass_("matmul, conv and optimizer ops on the GPU: %s" % counts,
                 details=["heavy ops: " + _heavy_text(heavy_by_kind)]
                 + (["on the CPU (light ops): " + ", ".join(light)] if host else []), facts=keep)


def agreement(facts: Facts, options: Options, k: Knowledge) -> Result:
    """The GPU's loss trajectory against the CPU's, from the same weights and data, within trajectory_tolerance
    (where there is a GPU: the registry's gpu gate)."""
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    cpu, gpu = tr.get("cpu"), tr.get("gpu")
    if not cpu or not gpu or "error" in cpu or "error" in gpu:
        return skip("no GPU and CPU training runs to compare")
    rows = [(abs(g - c) / abs(c) if c else abs(g - c), trajectory_tolerance(i), c, g)
            for i, (c, g) in enumerate(zip(cpu["losses"], gpu["losses"]))]
    keep = {"relative_difference": [r[0] for r in rows], "tolerance": [r[1] for r in rows]}
    for i, (rel, tol, c, g) in enumerate(rows):
        if not rel <= tol:  # NaN fails too
            return fail("the GPU's loss departs from the CPU's at step %d of %d: %.6g on the GPU, %.6g on the CPU "
                        "(relative difference %.2e > fp32 tolerance %.2e)" % (i + 1, len(rows), g, c, rel, tol),
                        _bug(facts, "the GPU's training numbers are wrong for this model (same weights and data); "
                             "do not trust training on this device"),
                        facts=keep)
    worst = max(range(len(rows)), key=lambda i: rows[i][0] / rows[i][1])
    return pass_("GPU and CPU losses agree over %d steps: largest relative difference %.1e at step %d "
                 "(tolerance there %.1e)" % (len(rows), rows[worst][0], worst + 1, rows[worst][1]), facts=keep)


def fused(facts: Facts, options: Options, k: Knowledge) -> Result:
    """relu(x @ w + b) in graph mode (fused by Grappler) and eagerly, each against float64."""
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    f = tr["fused"]
    if "error" in f:
        return fail("the dense+bias+ReLU on %s failed: %s" % (f["requested"].strip("/"), f["error"]),
                    _bug(facts, "the bundle holds the probe's stderr"), facts=f)
    m, inner, n = f["shape"]
    tol = timing.fp32_tolerance(inner + 1)  # inner products and the bias per entry
    keep = {**f, "tolerance": tol}
    where = f["placed"].split("device:")[-1]
    path = "graph mode (tf.function, %s)" % (f["fused_op"] or "not fused")
    for name, err in ((path, f["graph_error"]), ("eager mode", f["eager_error"])):
        if not err <= tol:
            return fail("dense+bias+ReLU (%dx%d @ %dx%d) in %s on %s gives wrong numbers: error %.2e against "
                        "float64 exceeds the fp32 tolerance %.2e (graph %.2e, eager %.2e)" % (
                            m, inner, inner, n, name, where, err, tol, f["graph_error"], f["eager_error"]),
                        _bug(facts, "do not trust models with Dense layers on this device"), facts=keep)
    return pass_("%s on %s: error %.1e, eager %.1e (fp32 tolerance %.1e)" % (
        path, where, f["graph_error"], f["eager_error"], tol), facts=keep)


def speed(facts: Facts, options: Options, k: Knowledge) -> Result:
    """Milliseconds per training step on the GPU and the CPU; a slower GPU warns, or fails --min-train-speedup."""
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    cpu = tr.get("cpu") or {}
    cpu_ms = cpu.get("median_step_ms")
    gate = gpu_gate(facts, options, "no GPU training step to time")
    if gate:
        if gate.status == Status.SKIP and cpu_ms is not None:
            return skip("CPU %.2f ms per step (%s); %s" % (cpu_ms, _size(tr), gate.summary), gate.reason,
                        facts={"cpu_ms": cpu_ms})
        return gate
    gpu = tr.get("gpu") or {}
    if cpu_ms is None or gpu.get("median_step_ms") is None:
        return skip("no timed GPU and CPU training steps to compare")
    gpu_ms = gpu["median_step_ms"]
    ratio = cpu_ms / gpu_ms
    keep = {"cpu_ms": cpu_ms, "gpu_ms": gpu_ms, "speedup": ratio, "threshold": options.min_train_speedup,
            "params": tr["model"]["params"]}
    shown, bar = speedup_texts(ratio, options.min_train_speedup or 0.0)
    summary = "GPU %.2f ms, CPU %.2f ms per step: %s (%s)" % (gpu_ms, cpu_ms, shown, _size(tr))
    advisory = vm_advisory(facts)
    if advisory:  # neither --min-train-speedup nor the slower-GPU warning: a shared host's timings gate nothing
        return skip("%s; %s" % (summary, advisory), facts=keep)
    if options.min_train_speedup and ratio < options.min_train_speedup:
        return fail(summary + "; below --min-train-speedup %s" % bar,
                    None, details=["the GPU does not speed up training enough for this gate: check Low Power Mode "
                                   "and the placement census; lower --min-train-speedup only if you know why"],
                    facts=keep)
    if ratio < 1:
        return warn(summary + ": the GPU is slower than the CPU",
                    details=["a model this small may legitimately lose on the GPU (dispatch costs more than the "
                             "math; 0.58-0.91× is reported for small models); pass --min-train-speedup to make it "
                             "a gate"], facts=keep)
    return pass_(summary, facts=keep)
