"""Helpers shared by the rules: which GPU TensorFlow lists (or why a machine has no Metal GPU), and TensorFlow's
state."""

from __future__ import annotations

from typing import Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from checks import fixes
from checks.diagnose import Machine, errors
from checks.facts import ChildFacts, Devices, Facts
from checks.knowledge import Knowledge
from checks.matrix import TENSORFLOW
from checks.model import Options, Result, fail, skip

GITHUB_VM = ("GitHub: 'Nested-virtualization and Metal Performance Shaders (MPS) are not supported due to "
             "the limitation of Apple's Virtualization Framework.'")


def no_metal_reason(facts: Facts, profile: str) -> str | None:
    """Why this machine or profile has no Metal GPU to check; None when it should have one."""
    s = facts["system"]
    if s["os"] != "macos":
        return "%s has no Metal: Metal is Apple's GPU API, so the cpu profile runs TensorFlow on the CPU" % (
            s["os"].capitalize())
    if s.get("translated"):
        return "x86_64 Python under Rosetta: tensorflow-metal has no x86_64 build since 1.0.1"
    if s.get("hardware_arch") != "arm64":
        return ("Intel Mac: tensorflow-metal stopped x86_64 wheels at 1.0.0 and TensorFlow at 2.16.2, "
                "so the cpu profile is used")
    if profile != "metal" and not recorded(facts, "packages"):  # a bundle of the machine alone
        return "which profile was set up is not recorded in this bundle (no packages.json)"
    if profile != "metal":
        return "the cpu profile was chosen, so no Metal plugin is installed"
    return None


LABELS = {"tensorflow": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}


def backend_name(facts: Facts) -> str:
    """The framework this environment's Keras runs on (``checks.probes.framework.decide``): TensorFlow unless a
    run decided otherwise."""
    return (facts.get("backend") or {}).get("name") or TENSORFLOW


def is_tensorflow(facts: Facts) -> bool:
    return backend_name(facts) == TENSORFLOW


def framework_label(facts: Facts) -> str:
    name = backend_name(facts)
    return LABELS.get(name, name)


def child(facts: Facts) -> ChildFacts:
    """The probe child's facts: TensorFlow's (``tf_child``), or the Keras 3 backend's (``backend_child``)."""
    if is_tensorflow(facts):
        return facts.get("tensorflow") or {}
    return facts.get("framework") or {}


def child_imported(facts: Facts) -> bool:
    """Whether the child imported its framework (TensorFlow, torch, jax)."""
    return tf_imported(facts) if is_tensorflow(facts) else bool((facts.get("framework") or {}).get("framework"))


def backend_devices(facts: Facts) -> Devices:
    """A Keras 3 backend's devices as its child found them (empty for TensorFlow, or when it did not get there)."""
    return (facts.get("framework") or {}).get("devices") or {}


ACCELERATORS = ("gpu", "cuda", "mps", "rocm", "metal", "xpu")


def on_accelerator(placed: str) -> bool:
    """Whether a device name is a GPU: TensorFlow's ``.../device:GPU:0``, torch's ``cuda:0`` / ``mps:0``, JAX's
    ``gpu:0``; not ``CPU:0``, ``cpu`` or ``cpu:0``."""
    last = placed.rsplit("/", 1)[-1].split("device:")[-1]
    return last.split(":")[0].lower() in ACCELERATORS


def no_accelerator_reason(facts: Facts) -> str | None:
    """Why a Keras 3 backend has no accelerator to check here; None where it found one, or should have (a native
    Apple Silicon Mac within the backend's macOS range, bare metal: there its GPU checks fail without one)."""
    d = backend_devices(facts)
    if d.get("accelerator"):
        return None
    s = facts["system"]
    b = facts.get("backend") or {}
    label = framework_label(facts)
    if not d:
        return "the %s probe stopped before recording its devices (devices.import says why)" % label
    if s["os"] != "macos":
        if backend_name(facts) == "torch":
            return "no MPS off macOS, and no CUDA GPU: %s; Keras runs on the CPU" % (
                (d.get("cuda") or {}).get("why_not") or "torch.cuda.is_available() is False")
        return "%s lists no GPU here: %s; Keras runs on the CPU" % (label, d.get("why_not") or "CPU wheels")
    gpu = "MPS" if backend_name(facts) == "torch" else "a GPU"
    if s.get("translated"):
        return "x86_64 Python under Rosetta: %s needs a native arm64 Python" % gpu
    if s.get("hardware_arch") != "arm64":
        return "Intel Mac: %s for %s is an Apple Silicon path in the matrix" % (gpu, label)
    if not b.get("accelerator"):
        return "no GPU for %s on a Mac: %s" % (label, b.get("why") or "the matrix names none")
    floor, version = b.get("macos"), s.get("macos_version")
    try:
        old = bool(floor and version and Version(version) not in SpecifierSet(floor))
    except (InvalidSpecifier, InvalidVersion):
        old = False
    if old:
        return "%s needs macOS %s (the matrix's range for %s); this Mac runs macOS %s" % (
            gpu, str(floor).lstrip(">="), label, version)
    if s.get("vm"):
        return "macOS VM: %s lists no %s device; %s" % (label, gpu, GITHUB_VM)
    return None


def listed_gpus(facts: Facts) -> list[str]:
    """The GPUs TensorFlow listed in the child (none when it did not import, or the bundle did not record it)."""
    return list((((facts.get("tensorflow") or {}).get("tensorflow") or {}).get("gpus")) or [])


def gpu_platform(facts: Facts) -> str:
    """What the first listed GPU is, from TensorFlow's device details: ``Metal``, ``CUDA (NVIDIA …)``, or the
    platform a PluggableDevice registered (its ``device_name``); a replay without details on a Mac says Metal."""
    if not is_tensorflow(facts):
        d = backend_devices(facts)
        kind, name = d.get("accelerator") or "", d.get("accelerator_name") or "?"
        if kind == "mps":
            return "Metal"  # Metal Performance Shaders: Apple's GPU, whose peaks the chip table holds
        capability = (d.get("cuda") or {}).get("capability")
        if kind == "cuda" or (kind == "gpu" and "NVIDIA" in name.upper()):
            return "CUDA (%s%s)" % (name, ", compute capability %s" % capability if capability else "")
        return "%s (%s)" % (kind.upper() or "no accelerator", name)
    info = ((facts.get("tensorflow") or {}).get("tensorflow") or {})
    details = (info.get("gpu_details") or [{}])[0] or {}
    name = str(details.get("device_name") or "")
    if "compute_capability" in details:
        return "CUDA (%s, compute capability %s)" % (name or "?", details["compute_capability"])
    if name.upper() == "METAL" or (not name and (facts.get("system") or {}).get("os") == "macos"):
        return "Metal"
    return "PluggableDevice platform %s" % (name or "unnamed")


def is_metal(facts: Facts) -> bool:
    """Whether the GPU under test is Apple's Metal (where Metal-specific knowledge applies)."""
    return gpu_platform(facts) == "Metal"


def vm_advisory(facts: Facts) -> str | None:
    """Why speed is not gated here: a macOS VM's GPU is paravirtual on a shared host (its correctness is still
    judged); None on bare metal and off macOS."""
    s = facts["system"]
    if s["os"] != "macos" or not s.get("vm"):
        return None
    gpu = s.get("gpu") or {}
    seen = gpu.get("name") or "the GPU system_profiler did not report"
    return "not gated in a macOS VM (%s; %s): a paravirtual GPU on a shared host" % (
        s.get("model") or "kern.hv_vmm_present = 1", seen)


def speedup_texts(ratio: float, threshold: float) -> tuple[str, str]:
    """A speedup and its threshold as text ("0.12×"), with the digits that keep a ratio below its threshold from
    reading as equal to it (0.1156 against 0.12: "0.116×" and "0.120×")."""
    digits = 2
    while digits < 6 and ratio < threshold and "%.*f" % (digits, ratio) == "%.*f" % (digits, threshold):
        digits += 1
    return "%.*f×" % (digits, ratio), "%.*f×" % (digits, threshold)


def not_known(facts: Facts, *keys: str) -> list[str]:
    """What a bundle says it could not record for these facts (its tensorflow.json's ``not_known``), as details."""
    notes = (facts.get("tensorflow") or {}).get("not_known") or {}
    return ["not known: %s" % notes[k] for k in keys if notes.get(k)]


def tf_imported(facts: Facts) -> bool:
    return bool((facts.get("tensorflow") or {}).get("tensorflow"))


NOT_RECORDED = "not recorded in this bundle"


def recorded(facts: Facts, key: Literal["packages", "tensorflow"]) -> bool:
    """False when a replayed bundle did not record this part (packages or tensorflow)."""
    return not (facts.get(key) or {}).get("not_recorded")


def gpu_gate(facts: Facts, options: Options, what: str) -> Result | None:
    """None where the GPU checks run: TensorFlow lists a GPU that is not Metal (CUDA, another PluggableDevice), on any
    machine; a Metal GPU listed on a bare-metal Apple Silicon Mac, whatever the profile; or a Metal GPU should be
    there (metal profile on such a Mac, or in a macOS VM, where correctness is judged and speed is not gated: then its
    checks fail without one). Elsewhere skip (or, with --require-gpu, fail), saying why there is no Metal GPU: a Metal
    device listed under Rosetta is not one to trust. For Keras 3 on PyTorch or JAX: the accelerator its child found,
    or ``no_accelerator_reason``."""
    if not is_tensorflow(facts):
        why = no_accelerator_reason(facts)
        if why is None:
            return None
        if options.require_gpu:
            return fail("--require-gpu: %s (%s)" % (what, why), None,
                        details=["%s found no accelerator here: run it where it has one (MPS on a bare-metal Apple "
                                 "Silicon Mac with macOS 14 or later, or a CUDA GPU for a CUDA build)"
                                 % framework_label(facts)])
        return skip(why, why)
    if listed_gpus(facts) and (not is_metal(facts) or no_metal_reason(facts, "metal") is None):
        return None
    reason = no_metal_reason(facts, options.profile)
    if not reason:
        return None
    if options.require_gpu:
        s = facts["system"]
        metal_here = s["os"] == "macos" and s.get("hardware_arch") == "arm64" and not s.get("translated") \
            and not s.get("vm")
        if metal_here:  # only the cpu profile stands in the way
            return fail("--require-gpu: %s (%s)" % (what, reason), fixes.repair(
                facts, "--profile", "metal", "--force", why="rebuilds it with tensorflow-metal"))
        return fail("--require-gpu: %s (%s)" % (what, reason), None,
                    details=["TensorFlow lists no GPU here, and no setup gives this machine one: run it where "
                             "TensorFlow has a GPU (a bare-metal Apple Silicon Mac for Metal)"])
    return skip(reason, reason)


def explained(result: Result, text: str, k: Knowledge, facts: Facts, options: Options, quoted: str = "") -> Result:
    """``result`` with what the known error signatures say of ``text`` (a child's stderr, an error a probe caught):
    the first error's cause and what helps (fitted to this machine and environment) lead the details; harmless log
    lines are left out. A summary that starts with ``quoted`` then quotes the recognised error."""
    found = errors(k.diagnose(text, Machine.from_facts(facts, options.profile), fixes.env_of(facts))) \
        if text.strip() else []
    if not found:
        return result
    d = found[0]
    details = (["cause: " + d.cause, "what helps: " + d.fix] + ["also: [%s] %s" % (x.id, x.cause) for x in found[1:]]
               + result.details)
    summary = quoted + d.evidence[:300] if quoted and result.summary.startswith(quoted) else result.summary
    return Result(result.status, summary + " [%s]" % d.id, details, result.fix,
                  {**result.facts, "diagnoses": [x.to_json() for x in found]})
