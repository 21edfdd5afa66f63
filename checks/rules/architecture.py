"""Architecture: OS, native or translated interpreter, virtual machine, macOS version."""

from __future__ import annotations

from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from checks import fixes, platforms
from checks.facts import Facts
from checks.knowledge import Knowledge
from checks.model import Options, Result, fail, pass_, skip, warn
from checks.probes import system
from checks.rules.common import GITHUB_VM, framework_label, is_tensorflow, no_metal_reason


def interpreter(facts: Facts, options: Options, k: Knowledge) -> Result:
    s = facts["system"]
    what = "%s CPython %s" % (s["interpreter_arch"], s["python_version"])
    keep = {k: s.get(k) for k in ("os", "hardware_arch", "interpreter_arch", "translated", "python_executable")}
    if s["os"] == "macos" and s.get("translated"):
        return fail("%s runs under Rosetta on Apple Silicon: %s cannot reach the GPU" % (what, framework_label(facts)),
                    fixes.UV + " python install cpython-3.12-macos-aarch64-none  # a native arm64 Python "
                    "(or: brew install python@3.12 with the arm64 Homebrew in /opt/homebrew)\n"
                    + fixes.repair(facts, "--force", "--python", "3.12", why="rebuilds it with the native Python"),
                    facts=keep, details=["hw.optional.arm64 = 1 and sysctl.proc_translated = 1"])
    if options.profile == "metal" and not (s["os"] == "macos" and s["interpreter_arch"] == "arm64"):
        return fail("the metal profile needs macOS on Apple Silicon; this is %s on %s" % (what, s["os"]),
                    fixes.command("verify", "--profile", "cpu", env=fixes.env_of(facts),
                                  why="this machine has no Metal GPU"), facts=keep)
    if s["os"] == "macos" and s["interpreter_arch"] == "arm64":
        return pass_("native %s on Apple Silicon" % what, facts=keep)
    reason = no_metal_reason(facts, options.profile) if is_tensorflow(facts) else None  # else devices.gpu says why
    return pass_("%s on %s %s" % (what, s["os"].capitalize(), s.get("hardware_arch")),
                 details=[reason] if reason else [], facts=keep)


def virtualization(facts: Facts, options: Options, k: Knowledge) -> Result:
    s = facts["system"]
    keep = {"vm": s.get("vm"), "model": s.get("model"), "cpu_brand": s.get("cpu_brand"), "gpu": s.get("gpu")}
    if s.get("vm") is None:
        late = (s.get("timeouts") or {}).get("kern.hv_vmm_present")
        return skip("unknown: %s" % (late or "kern.hv_vmm_present did not answer (or was not recorded)"), facts=keep)
    if not s.get("vm"):
        return pass_("bare metal (no hypervisor reported)", facts=keep)
    if s["os"] != "macos":
        return pass_("virtual machine (CPU reports a hypervisor); no effect on the cpu profile", facts=keep)
    gpu = s.get("gpu") or {}
    seen = ("GPU %s" % _gpu_words(dict(gpu))) if gpu else "no GPU reported by system_profiler"
    where = "macOS virtual machine (%s, %s, %s)" % (s.get("model") or "kern.hv_vmm_present = 1",
                                                    s.get("cpu_brand") or "CPU brand not reported", seen)
    if options.require_gpu:
        return fail(where + ": --require-gpu needs a bare-metal GPU", None,
                    details=[GITHUB_VM, "run it on a bare-metal Apple Silicon Mac (a self-hosted runner)"],
                    facts=keep)
    if options.profile != "metal":
        return pass_(where + "; the cpu profile runs here", facts=keep)
    return pass_(where + ": GPU checks advisory: device discovery and correctness are judged, speed is not gated",
                 details=["a paravirtual GPU on a shared host: timings say nothing about a Mac's GPU; a wrong "
                          "number or a silent CPU fallback still fails", GITHUB_VM], facts=keep)


def _gpu_words(gpu: dict[str, Any]) -> str:
    """``Apple Paravirtual device (Metal 3, cores not reported)`` from system_profiler's GPU."""
    metal = system.metal_name(gpu.get("metal")) or "Metal support not reported"
    cores = "%d cores" % gpu["cores"] if gpu.get("cores") else "cores not reported"
    return "%s (%s, %s)" % (gpu.get("name") or "unnamed", metal, cores)


def macos_version(facts: Facts, options: Options, k: Knowledge) -> Result:
    s = facts["system"]
    if s["os"] != "macos":
        return skip("not macOS")
    raw = s.get("macos_version")
    keep = {"macos_version": raw, "compat_mode": s.get("macos_compat_mode")}
    if s.get("macos_compat_mode"):
        return warn("Python sees macOS 10.16 (compatibility mode); pip then rejects macOS 12 wheels",
                    "SYSTEM_VERSION_COMPAT=0 " + fixes.repair(facts, "--force", why="Python then sees the real "
                                                              "macOS version and pip takes macOS 12 wheels"),
                    facts=keep)
    if not raw:
        late = (s.get("timeouts") or {}).get("sw_vers")
        return skip("unknown: %s" % (late or "sw_vers did not answer (or was not recorded)"), facts=keep)
    try:
        version = Version(raw)
    except InvalidVersion:
        return warn("macOS version not recognised: %r" % raw, details=["report `sw_vers -productVersion`"],
                    facts=keep)
    floor, label = _macos_floor(facts, k)
    if options.profile == "metal" and floor and not floor.contains(version):
        return fail("macOS %s is outside %s, which %s needs" % (raw, floor, label), None,
                    details=["upgrade macOS (System Settings > General > Software Update)"], facts=keep)
    return pass_("macOS %s" % raw, facts=keep)


def _macos_floor(facts: Facts, k: Knowledge) -> tuple[SpecifierSet | None, str]:
    """The macOS range of the pair this environment holds (the matrix's metal target whose plugin is installed,
    else the installed plugin's own record, else the default pair's), and its label."""
    versions = (facts.get("packages") or {}).get("versions") or {}
    backend = (facts.get("backend") or {}).get("name") or "tensorflow"
    targets = k.matrix.targets_for("metal", platforms.MAC_GPU, backend)  # Keras on torch: MPS needs macOS 14
    if backend != "tensorflow":
        return (targets[0].macos, targets[0].label) if targets else (None, "")
    held = next((t for t in targets if t.plugin and versions.get(t.plugin.name)), None)
    if held and held.macos:
        return held.macos, held.label
    plugin = next((p for p in k.matrix.plugins if versions.get(p.name)), None)
    if plugin:
        return plugin.macos, plugin.name
    default = targets[0] if targets else None
    return (default.macos, default.label) if default else (None, "")


def chip(facts: Facts, options: Options, k: Knowledge) -> Result:
    """The Apple chip, its GPU cores, unified memory and FP32 peak; says what it did not recognise, what it could not
    collect (the Metal limits) and which system command timed out."""
    s = facts["system"]
    if s["os"] != "macos":
        return skip("not a Mac")
    c = k.chip(s)
    memory = s.get("memory_bytes")
    parts = [c.name or "unknown chip"]
    if c.cores:
        parts.append("%d GPU cores" % c.cores)
    if memory:
        kind = "unified memory" if s.get("hardware_arch") == "arm64" else "memory"
        parts.append("%.0f GiB %s" % (memory / 2**30, kind))
    if c.peak_gflops:
        parts.append("FP32 peak %.2f TFLOPS" % (c.peak_gflops / 1000))
    complete = c.known and c.peak_gflops
    details = [c.note] if complete else []
    gpu = s.get("gpu") or {}
    if gpu:
        details.append("GPU seen by %s: %s" % (gpu.get("source") or "system_profiler", _gpu_words(dict(gpu))))
        if gpu.get("not_collected"):
            details.append("not collected: %s (system_profiler gives none for an Apple GPU, and TensorFlow's device "
                           "details carry none)" % ", ".join(gpu["not_collected"]))
    timed_out = s.get("timeouts") or {}
    details += ["timed out: %s" % v for v in timed_out.values()]
    summary = ", ".join(parts) + ("" if complete else " (%s)" % c.note)
    if "system_profiler" in timed_out:
        summary += "; system_profiler timed out: no GPU facts"
    return pass_(summary, details=details,
                 facts={**c.to_json(), "memory_bytes": memory, "gpu": gpu or None, "timeouts": timed_out})
