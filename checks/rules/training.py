"""The training family: a Keras model as users write it, where its ops ran, its numbers and its speed.

The facts come from ``checks/probes/training.py`` (inside the TensorFlow child): per device
(``cpu``, and ``gpu`` on the metal profile) the losses of ``steps`` training steps, their times and the
census of the first step (op types counted by device); and the graph-mode dense+bias+ReLU (``fused``).
"""

from __future__ import annotations

import math
from typing import Any

from packaging.version import InvalidVersion, Version

from checks import timing
from checks.model import Options, Result, Status, fail, pass_, skip, warn
from checks.rules.common import NOT_RECORDED, gpu_gate, recorded, tf_imported

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


# Heavy ops: a training step on the GPU must run these there. Op types as the partition graphs name them
# after Grappler (MatMul, _FusedMatMul, _MklNativeFusedMatMul, Conv2DBackpropFilter, ResourceApplyAdam ...).
HEAVY = (("matmul", ("MatMul",)), ("conv", ("Conv2D", "Conv3D", "DepthwiseConv")),
         ("optimizer", ("ResourceApply", "ResourceSparseApply", "AssignSubVariableOp")))
# Why a heavy op may run on the host under soft placement; each with its source.
HOST_REASONS = {
    "optimizer-tf2.20+": (
        "with TensorFlow 2.20/2.21 the community tensorflow-metal-plugin registers no optimizer kernels "
        "(ResourceApplyAdam, ResourceApplyGradientDescent, ResourceApplyMomentum, ResourceApplyKerasMomentum, "
        "ResourceApplyRMSProp; Keras 3's assign_sub updates likewise): the resource-variable kernel C API is "
        "missing from those wheels (tensorflow/tensorflow#126374, fixed by #126377 for 2.22), so they run on "
        "the host: correct, slower (tensorflow-metal-plugin README)"),
    "no-kernel": (
        "the installed Metal plugin has no GPU kernel for it, so soft placement moved it to the CPU silently "
        "(tensorflow/docs PR #1917)"),
}


def heavy_kind(op: str) -> str | None:
    """``matmul``, ``conv`` or ``optimizer`` for the ops a step must run on its target, else None."""
    for kind, marks in HEAVY:
        if any(op.startswith(m) or m in op for m in marks):
            return kind
    return None


def heavy_counts(ops: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Heavy ops counted by kind and device: ``{"matmul": {"GPU:0": 6}, ...}``."""
    out: dict[str, dict[str, int]] = {}
    for device, counts in ops.items():
        for op, n in counts.items():
            kind = heavy_kind(op)
            if kind:
                out.setdefault(kind, {}).setdefault(device, 0)
                out[kind][device] += n
    return out


def _heavy_text(heavy: dict[str, dict[str, int]]) -> str:
    return "; ".join("%s %s" % (kind, ", ".join("%d on %s" % (n, d) for d, n in sorted(where.items())))
                     for kind, where in heavy.items())


def _training(facts: dict[str, Any]) -> dict[str, Any] | None:
    """The training probe's facts; None when it did not run or failed as a whole (``_not_run`` says which)."""
    tr = (facts.get("tensorflow") or {}).get("training")
    return None if tr is None or "error" in tr else tr


def _not_run(facts: dict[str, Any]) -> Result:
    tf = facts.get("tensorflow") or {}
    if "error" in (tf.get("training") or {}):
        return skip("the training probe failed: see training.losses")
    if not recorded(facts, "tensorflow"):
        return skip(NOT_RECORDED)
    if not tf_imported(facts):
        return skip("TensorFlow did not import")
    if tf.get("stage") == "training":
        return skip("the probe stopped while training (see devices.import for the crash or hang)")
    return skip("no training probe in this recording (made by a version without it)")


def _target(tr: dict[str, Any]) -> str:
    """The device under test: the GPU when the probe trained there, else the CPU."""
    return "gpu" if "gpu" in tr else "cpu"


def _label(run: dict[str, Any]) -> str:
    return run.get("requested", "?").strip("/")


def _size(tr: dict[str, Any]) -> str:
    m = tr["model"]
    return "%s-parameter model, batch %d" % (format(m["params"], ","), m["input"][0])


def losses(facts: dict[str, Any], options: Options) -> Result:
    """Every loss finite and the last lower than the first, on every device the probe trained on."""
    broken = ((facts.get("tensorflow") or {}).get("training") or {}).get("error")
    if broken:
        return fail("the training probe failed before training: %s" % broken,
                    "check that Keras imports in this environment: `invoke verify --json out.json` shows the "
                    "installed versions (packages.consistency)", facts={"error": broken})
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    parts, keep = [], {"model": tr["model"], "steps": tr["steps"]}
    for side in ("cpu", "gpu"):
        run = tr.get(side)
        if run is None:
            continue
        if "error" in run:
            return fail("training on %s failed: %s" % (_label(run), run["error"]),
                        "see the TensorFlow probe's stderr: `invoke verify --json out.json`", facts=run)
        values = run["losses"]
        keep[side] = values
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bad is not None:
            return fail("training on %s: loss is %s at step %d of %d (steps before: %s)" % (
                _label(run), values[bad], bad + 1, len(values), ", ".join("%.4f" % v for v in values[:bad]) or "none"),
                "a NaN or inf loss from fixed data and weights is a numerical fault of this device's kernels "
                "(a host/GPU race in optimizer slots did this on tensorflow-metal-plugin); report it with "
                "`invoke report --out training-bug`", facts=keep)
        if not values[-1] < values[0]:
            return fail("training on %s: the loss did not fall in %d steps (%.4f -> %.4f)" % (
                _label(run), len(values), values[0], values[-1]),
                "Adam on a fixed batch must lower the loss; report it with `invoke report --out training-bug`",
                facts=keep)
        parts.append("%s %.4f -> %.4f" % (_label(run), values[0], values[-1]))
    return pass_("%s over %d steps (%s, %s)" % ("; ".join(parts), tr["steps"], tr["model"]["optimizer"], _size(tr)),
                 details=[tr["model"]["layers"]], facts=keep)


def _reason(op: str, tf_version: str | None) -> str:
    try:
        new = tf_version is not None and Version(tf_version) >= Version("2.20")
    except InvalidVersion:
        new = False
    return HOST_REASONS["optimizer-tf2.20+" if new and heavy_kind(op) == "optimizer" else "no-kernel"]


def placement(facts: dict[str, Any], options: Options) -> Result:
    """Where the ops of a training step ran: heavy ops on the target pass; on the CPU, warn; all on the CPU, fail."""
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    side = _target(tr)
    run = tr[side]
    if "error" in run:
        return skip("no training step on %s to count" % _label(run))
    census = run["census"]
    if "error" in census:
        return warn("no census: %s" % census["error"], "report it with `invoke report --out training-bug`",
                    facts=census)
    by_device, ops = census["by_device"], census["ops"]
    counts = ", ".join("%d on %s" % (n, d) for d, n in by_device.items())
    target = "GPU" if side == "gpu" else "CPU"
    heavy_by_kind = heavy_counts(ops)
    keep = {"target": target, "heavy": heavy_by_kind, **census}
    if side == "cpu":
        return pass_("target CPU (cpu profile): %d ops of the step, %s" % (sum(by_device.values()), counts),
                     details=["heavy ops: " + _heavy_text(heavy_by_kind)], facts=keep)
    on_gpu = sum(n for d, n in by_device.items() if d.upper().startswith("GPU"))
    if not on_gpu:
        return fail("the whole training step ran on the CPU although the GPU was the target (%s)" % counts,
                    "the Metal device does no work: check devices.gpu and packages.metal, then "
                    "`invoke setup --profile metal --force`", facts=keep)
    host = {op: n for d, c in ops.items() if not d.upper().startswith("GPU") for op, n in c.items()}
    heavy = sorted(op for op in host if heavy_kind(op))
    keep["heavy_on_cpu"] = heavy
    keep["other_on_cpu"] = sorted(set(host) - set(heavy))
    if heavy:
        version = ((facts.get("tensorflow") or {}).get("tensorflow") or {}).get("version")
        return warn("%d of the step's heavy ops ran on the CPU, not the GPU: %s (%s)" % (
            sum(host[op] for op in heavy), ", ".join("%s ×%d" % (op, host[op]) for op in heavy), counts),
            "correct but slower; nothing to fix in this environment unless a newer plugin or TensorFlow adds "
            "the kernels: see the reasons above", details=["%s: %s" % (op, _reason(op, version)) for op in heavy],
            facts=keep)
    return pass_("matmul, conv and optimizer ops on the GPU: %s" % counts,
                 details=["heavy ops: " + _heavy_text(heavy_by_kind)]
                 + (["on the CPU (light ops): " + ", ".join(keep["other_on_cpu"])] if host else []), facts=keep)


def agreement(facts: dict[str, Any], options: Options) -> Result:
    """The GPU's loss trajectory against the CPU's, from the same weights and data, within trajectory_tolerance."""
    gate = gpu_gate(facts, options, "no GPU training to compare with the CPU's")
    if gate:
        return gate
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
                        "the GPU's training numbers are wrong for this model (same weights and data): report it "
                        "with `invoke report --out training-bug`; do not trust training on this device",
                        facts=keep)
    worst = max(range(len(rows)), key=lambda i: rows[i][0] / rows[i][1])
    return pass_("GPU and CPU losses agree over %d steps: largest relative difference %.1e at step %d "
                 "(tolerance there %.1e)" % (len(rows), rows[worst][0], worst + 1, rows[worst][1]), facts=keep)


def fused(facts: dict[str, Any], options: Options) -> Result:
    """relu(x @ w + b) in graph mode (fused by Grappler) and eagerly, each against float64."""
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    f = tr["fused"]
    if "error" in f:
        return fail("the dense+bias+ReLU on %s failed: %s" % (f["requested"].strip("/"), f["error"]),
                    "see the TensorFlow probe's stderr: `invoke verify --json out.json`", facts=f)
    m, k, n = f["shape"]
    tol = timing.fp32_tolerance(k + 1)  # k products and the bias per entry
    keep = {**f, "tolerance": tol}
    where = f["placed"].split("device:")[-1]
    path = "graph mode (tf.function, %s)" % (f["fused_op"] or "not fused")
    for name, err in ((path, f["graph_error"]), ("eager mode", f["eager_error"])):
        if not err <= tol:
            return fail("dense+bias+ReLU (%dx%d @ %dx%d) in %s on %s gives wrong numbers: error %.2e against "
                        "float64 exceeds the fp32 tolerance %.2e (graph %.2e, eager %.2e)" % (
                            m, k, k, n, name, where, err, tol, f["graph_error"], f["eager_error"]),
                        "do not trust models with Dense layers on this device; report it with "
                        "`invoke report --out training-bug`", facts=keep)
    return pass_("%s on %s: error %.1e, eager %.1e (fp32 tolerance %.1e)" % (
        path, where, f["graph_error"], f["eager_error"], tol), facts=keep)


def speed(facts: dict[str, Any], options: Options) -> Result:
    """Milliseconds per training step on the GPU and the CPU; a slower GPU warns, or fails --min-train-speedup."""
    tr = _training(facts)
    if tr is None:
        return _not_run(facts)
    cpu = tr.get("cpu") or {}
    cpu_ms = cpu.get("median_step_ms")
    gate = gpu_gate(facts, options, "no GPU training step to time")
    if gate:
        if gate.status == Status.SKIP and cpu_ms is not None:
            return skip("CPU %.2f ms per step (%s); %s" % (cpu_ms, _size(tr), gate.summary),
                        facts={"cpu_ms": cpu_ms})
        return gate
    gpu = tr.get("gpu") or {}
    if cpu_ms is None or gpu.get("median_step_ms") is None:
        return skip("no timed GPU and CPU training steps to compare")
    gpu_ms = gpu["median_step_ms"]
    ratio = cpu_ms / gpu_ms
    keep = {"cpu_ms": cpu_ms, "gpu_ms": gpu_ms, "speedup": ratio, "threshold": options.min_train_speedup,
            "params": tr["model"]["params"]}
    summary = "GPU %.2f ms, CPU %.2f ms per step: %.2f× (%s)" % (gpu_ms, cpu_ms, ratio, _size(tr))
    if options.min_train_speedup and ratio < options.min_train_speedup:
        return fail(summary + "; below --min-train-speedup %.2f×" % options.min_train_speedup,
                    "the GPU does not speed up training enough for this gate: check Low Power Mode and the "
                    "placement census; lower --min-train-speedup only if you know why", facts=keep)
    if ratio < 1:
        return warn(summary + ": the GPU is slower than the CPU",
                    "a model this small may legitimately lose on the GPU (dispatch costs more than the math; "
                    "0.58-0.91× is reported for small models); pass --min-train-speedup to make it a gate",
                    facts=keep)
    return pass_(summary, facts=keep)
