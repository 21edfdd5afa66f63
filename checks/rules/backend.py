"""Keras 3 on PyTorch or JAX: the rules whose TensorFlow versions read TensorFlow's own facts.

The registry runs these instead of their TensorFlow counterparts where the environment's backend is not TensorFlow
(``checks.registry.by_backend``); the matmul and training families judge both kinds of child with the same rules.
The facts come from ``checks.probes.backend_child``.
"""

from __future__ import annotations

from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from checks import fixes
from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Result, Status, fail, pass_, skip, warn
from checks.rules.common import (
    NOT_RECORDED,
    backend_devices,
    backend_name,
    child,
    explained,
    framework_label,
    gpu_gate,
    gpu_platform,
    on_accelerator,
    recorded,
)
from checks.rules.tensorflow import _stderr_tail, died_after_import


def _pins(facts: Facts, k: Knowledge) -> tuple[str, dict[str, str]]:
    """The target the matrix has for this backend on this platform (its label) and its pins: name -> version."""
    platform = facts["system"]["platform"]
    name = backend_name(facts)
    target = next((t for t in k.matrix.targets if t.backend == name and t.platform == platform), None)
    pins: dict[str, str] = {}
    for line in (target.requirements if target else ()):
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        version = next((s.version for s in req.specifier if s.operator == "=="), None)
        if version:
            pins[canonicalize_name(req.name)] = version
    return (target.label if target else ""), pins


def framework_version(facts: Facts, options: Options, k: Knowledge) -> Result:
    """packages.tensorflow for Keras 3 on another framework: the framework and Keras against the matrix's pins."""
    if not recorded(facts, "packages"):
        return skip(NOT_RECORDED)
    name = backend_name(facts)
    backend = k.matrix.backend(name)
    dists: dict[str, str] = {canonicalize_name(n): v for n, v in (facts["packages"].get("distributions") or {}).items()}
    wanted: list[str] = [canonicalize_name(d) for d in (backend.distributions if backend else (name,))] + ["keras"]
    installed = {d: dists[d] for d in wanted if dists.get(d)}
    label, pins = _pins(facts, k)
    platform = facts["system"]["platform"]
    keep: dict[str, Any] = {"backend": name, "installed": installed, "pinned": pins, "platform": platform,
                            "decided_by": (facts.get("backend") or {}).get("decided_by")}
    shown = ", ".join("%s %s" % kv for kv in installed.items())
    if not any(d in installed for d in wanted[:-1]):
        return fail("%s is not installed, though this environment's backend is %s" % (name, name),
                    fixes.repair(facts, "--force", why="installs the hash-locked set"), facts=keep)
    if not pins:
        return warn("%s: no %s target for %s in the matrix to judge it by" % (shown, name, platform),
                    fixes.command("matrix", why="lists the supported platforms and backends"), facts=keep)
    off = ["%s %s (the matrix pins %s)" % (d, installed.get(d, "missing"), v) for d, v in pins.items()
           if installed.get(d) != v]
    if off:
        return warn("%s: %s" % (shown, "; ".join(off)),
                    fixes.repair(facts, why="installs the pinned versions from the lock"), facts=keep)
    return pass_("%s, as the matrix pins for %s/%s (%s); Keras backend %s" % (
        shown, name, platform, label, (facts.get("backend") or {}).get("keras_backend") or name), facts=keep)


def imported(facts: Facts, options: Options, k: Knowledge) -> Result:
    """devices.import for Keras 3 on another framework: the child imported it (or how it failed, explained)."""
    fw = child(facts)
    if fw.get("not_recorded"):
        return skip(NOT_RECORDED)
    label = framework_label(facts)
    proc = fw.get("process") or {}
    keep = {"stage": fw.get("stage"), "returncode": proc.get("returncode"), "signal": proc.get("signal"),
            "timed_out": proc.get("timed_out")}
    info = (facts.get("framework") or {}).get("framework")
    died = died_after_import(facts, label, fw) if info else None
    if info and died is not None:
        result = Result(died.status, died.summary, ["%s %s imported in %.1f s, before the probe stopped" % (
            label, info["version"], info["import_s"])] + died.details, died.fix,
            {**died.facts, "version": info["version"], "import_s": info["import_s"], "backend": backend_name(facts)})
        return explained(result, proc.get("stderr") or "", k, facts, options)
    if info:
        return pass_("%s %s imported in %.1f s (KERAS_BACKEND=%s)" % (
            label, info["version"], info["import_s"], info.get("keras_backend")),
            facts={**keep, "version": info["version"], "import_s": info["import_s"],
                   "backend": backend_name(facts)})
    tail = _stderr_tail(proc)
    rebuild = fixes.repair(facts, "--force", why="reinstalls every file of the hash-locked set")
    if proc.get("timed_out"):
        result = fail("the %s probe hit its time limit of %g s (--timeout) while importing %s" % (
            label, fw.get("timeout_s") or 0, label), fixes.command(
                "verify", "--timeout", "%g" % (2 * (fw.get("timeout_s") or 300)), env=fixes.env_of(facts),
                why="a larger time limit"), details=tail, facts=keep)
    elif proc.get("signal"):
        result = fail("the %s probe died from %s while importing %s" % (label, proc["signal"], label), rebuild,
                      details=tail, facts=keep)
    else:
        last = tail[-1] if tail else "exit code %s" % proc.get("returncode")
        result = fail("`import %s` failed: %s" % (backend_name(facts), last), rebuild, details=tail, facts=keep)
    stderr = proc.get("stderr") or ""
    return explained(result, stderr, k, facts, options)


def devices(facts: Facts, options: Options, k: Knowledge) -> Result:
    """devices.gpu for Keras 3 on another framework: the accelerator the framework found, or why there is none."""
    d = backend_devices(facts)
    keep: dict[str, Any] = dict(d)
    label = framework_label(facts)
    details = _device_details(keep)
    if d.get("accelerator"):
        return pass_("%s: %s (%s)" % (label, d.get("accelerator_device"), gpu_platform(facts)), details=details,
                     facts=keep)
    gate = gpu_gate(facts, options, "no accelerator for Keras here")
    if gate:
        return skip(gate.summary, gate.reason, details=details, facts=keep) if gate.status == Status.SKIP else gate
    # a native Apple Silicon Mac within the backend's macOS range, bare metal: MPS should be there
    why = (d.get("mps") or {}).get("why_not") or d.get("why_not") or "no reason given"
    return fail("%s lists no %s device on this Apple Silicon Mac: %s" % (
        label, ((facts.get("backend") or {}).get("accelerator") or "GPU").upper(), why),
        fixes.repair(facts, "--force", why="reinstalls the locked torch (its macOS arm64 wheel has MPS)"),
        details=details, facts=keep)


def _device_details(d: dict[str, Any]) -> list[str]:
    out = []
    for kind in ("mps", "cuda"):
        info = d.get(kind)
        if info:
            out.append("%s: built %s, available %s%s" % (kind.upper(), info.get("built"), info.get("available"),
                                                          "; " + info["why_not"] if info.get("why_not") else ""))
    if d.get("devices"):
        out.append("devices: %s (default backend %s)" % (", ".join(d["devices"]), d.get("default_backend")))
    env = d.get("env") or {}
    if d.get("framework") == "torch" and (d.get("mps") or {}).get("built"):  # the switch means nothing without MPS
        out.append("PYTORCH_ENABLE_MPS_FALLBACK=%s" % env["PYTORCH_ENABLE_MPS_FALLBACK"]
                   if "PYTORCH_ENABLE_MPS_FALLBACK" in env else "PYTORCH_ENABLE_MPS_FALLBACK not set: an op MPS "
                   "lacks raises NotImplementedError")
    return out


def placement(facts: Facts, options: Options, k: Knowledge) -> Result:
    """training.placement for Keras 3 on another framework: the device the model's weights and output live on (there
    is no op census outside TensorFlow), and on MPS the ops PyTorch ran on the CPU instead (its warnings)."""
    tr = child(facts).get("training")
    if not tr or "error" in tr:
        return skip("no training probe to place (see training.losses)")
    side = "gpu" if "gpu" in tr else "cpu"
    run = tr[side]  # type: ignore[literal-required]
    if "error" in run:
        return skip("no training step on %s to place" % run.get("requested"))
    p = run.get("placement") or {}
    ops = (run.get("fallback") or {}).get("ops") or {}
    weights, output = p.get("weights") or [], p.get("output") or "?"
    env = backend_devices(facts).get("env") or {}
    keep: dict[str, Any] = {"target": side.upper(), "requested": run.get("requested"), "weights": weights,
                            "output": output, "census": p.get("census"), "fallback_ops": ops,
                            "fallback_env": env.get("PYTORCH_ENABLE_MPS_FALLBACK")}
    where = "weights on %s, output on %s" % (", ".join(weights) or "?", output)
    if side == "cpu" and backend_devices(facts).get("accelerator") and child(facts).get("stage") == "training":
        return skip("the probe stopped while training on %s (devices.import says how)"
                    % backend_devices(facts).get("accelerator_device"))
    if side == "cpu":
        gate = gpu_gate(facts, options, "the training step had no accelerator to run on")
        if gate is not None and gate.status == Status.FAIL:
            return gate
        return pass_("target CPU: %s" % where, details=[str(p.get("census"))], facts=keep)
    off = [w for w in weights + [output] if not on_accelerator(w)]
    if off:
        return fail("requested %s but the model's %s: Keras did not place it on the accelerator" % (
            run.get("requested"), where), None, details=["the accelerator is not doing the work: see devices.gpu"],
            facts=keep)
    if ops:
        return warn("%s; ops ran on the CPU instead (PYTORCH_ENABLE_MPS_FALLBACK=%s), at least: %s" % (
            where, env.get("PYTORCH_ENABLE_MPS_FALLBACK", "?"), ", ".join(ops)),
            details=["MPS has no kernel for them: right numbers, slower steps; a newer torch may add them "
                     "(pytorch/pytorch#77764)", "PyTorch warns once per process (TORCH_WARN_ONCE in its MPS "
                     "fallback), so only the first op that fell back is named; others may have too",
                     str(p.get("census"))], facts=keep)
    fell = "; no CPU-fallback warning" if backend_devices(facts).get("accelerator") == "mps" else ""
    return pass_(where + fell, details=[str(p.get("census"))], facts=keep)
