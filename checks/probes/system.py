"""Machine facts: OS, CPU architecture, Rosetta, virtual machine, macOS version, chip and GPU.

``collect()`` runs the probes and keeps their raw outputs; ``derive()`` is pure and turns raw
outputs into facts, so a recorded machine gives the same facts on any OS.
"""

from __future__ import annotations

import json
import os
import platform
import struct
import sys
from typing import Any, Callable

from checks import platforms, process
from checks.facts import Gpu, SystemFacts

# name -> argv; run on macOS only. Each output is kept verbatim (stdout, stderr, exit code).
MAC_COMMANDS = {
    "hw.optional.arm64": ["sysctl", "-n", "hw.optional.arm64"],
    "sysctl.proc_translated": ["sysctl", "-n", "sysctl.proc_translated"],
    "kern.hv_vmm_present": ["sysctl", "-n", "kern.hv_vmm_present"],
    "hw.model": ["sysctl", "-n", "hw.model"],
    "machdep.cpu.brand_string": ["sysctl", "-n", "machdep.cpu.brand_string"],
    "hw.memsize": ["sysctl", "-n", "hw.memsize"],
    "sw_vers": ["sw_vers", "-productVersion"],
    "system_profiler": ["system_profiler", "SPDisplaysDataType", "-json"],
}

Run = Callable[..., process.Completed]


def collect(run: Run = process.run) -> dict[str, Any]:
    """Run every probe for this machine and this interpreter; return raw outputs."""
    raw: dict[str, Any] = {"python": interpreter(), "commands": {}, "linux": None, "memory": memory()}
    if sys.platform == "darwin":
        for name, argv in MAC_COMMANDS.items():
            raw["commands"][name] = run(argv, timeout=20 if name == "system_profiler" else 5).to_json()
    elif sys.platform.startswith("linux"):
        raw["linux"] = _linux()
    return raw


def interpreter() -> dict[str, Any]:
    """This interpreter as the platform module sees it (no subprocess)."""
    return {
        "system": platform.system(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "mac_ver": platform.mac_ver()[0],
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "bits": struct.calcsize("P") * 8,
    }


def memory() -> dict[str, int | None]:
    try:
        import psutil
    except ImportError:
        return {"total": None, "available": None}
    vm = psutil.virtual_memory()
    return {"total": int(vm.total), "available": int(vm.available), "cpus": psutil.cpu_count(logical=True)}


def _linux() -> dict[str, Any]:
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    product = None
    for path in ("/sys/class/dmi/id/product_name", "/sys/firmware/devicetree/base/model"):
        if os.path.exists(path):
            try:
                product = open(path, encoding="utf-8", errors="replace").read().strip("\x00\n ")
                break
            except OSError:
                pass
    return {"cpu_flags": flags, "product": product}


def _out(raw: dict[str, Any], name: str) -> str | None:
    """Stdout of a recorded command when it succeeded, else None (a missing sysctl key)."""
    cmd = raw["commands"].get(name)
    if not cmd or cmd.get("returncode") != 0:
        return None
    text = (cmd.get("stdout") or "").strip()
    return text or None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def derive(raw: dict[str, Any]) -> SystemFacts:
    """Facts the rules read, from raw probe outputs (pure)."""
    py = raw["python"]
    os_name = platforms.os_name(py["system"])
    machine = platforms.arch_name(py["machine"])
    facts: SystemFacts = {
        "os": os_name,
        "interpreter_arch": machine,
        "platform": platforms.platform_key(os_name, machine),
        "python_version": py["version"],
        "python_executable": py["executable"],
        "memory_bytes": (raw.get("memory") or {}).get("total"),
        "memory_available_bytes": (raw.get("memory") or {}).get("available"),
    }
    if os_name == "macos":
        _derive_mac(raw, facts)
    elif os_name == "linux":
        linux = raw.get("linux") or {}
        facts.update({
            "hardware_arch": machine,
            "translated": False,
            "vm": "hypervisor" in (linux.get("cpu_flags") or "").split(),
            "model": linux.get("product"),
        })
    return facts


def _answered(raw: dict[str, Any], name: str) -> bool:
    """The command ran and answered (exit 0, or sysctl's exit 1 for a key this kernel lacks)."""
    cmd = raw["commands"].get(name) or {}
    return cmd.get("returncode") in (0, 1)


def _derive_mac(raw: dict[str, Any], facts: SystemFacts) -> None:
    """The Mac's own facts, into ``facts``."""
    arm64 = _int(_out(raw, "hw.optional.arm64"))
    translated = _int(_out(raw, "sysctl.proc_translated"))
    machine = platforms.arch_name(raw["python"]["machine"])
    if _answered(raw, "hw.optional.arm64"):
        hardware = "arm64" if arm64 == 1 else "x86_64"
    else:  # not recorded: the interpreter's own architecture is the best evidence
        hardware = machine
    version = _out(raw, "sw_vers")
    mac_ver = raw["python"].get("mac_ver") or None
    memsize = _int(_out(raw, "hw.memsize"))
    facts.update({
        # hw.optional.arm64 is 1 on Apple Silicon, also for a translated process; missing or 0 on Intel.
        "hardware_arch": hardware,
        # The key is missing on Intel Macs: that means "not translated".
        "translated": translated == 1,
        # None: not known (the command did not answer, or a bundle did not record it).
        "vm": _int(_out(raw, "kern.hv_vmm_present")) == 1 if _answered(raw, "kern.hv_vmm_present") else None,
        "model": _out(raw, "hw.model"),
        "cpu_brand": _out(raw, "machdep.cpu.brand_string"),
        "macos_version": version or mac_ver,
        # Python built against an old SDK sees 10.16 when macOS runs in compatibility mode.
        "macos_compat_mode": mac_ver == "10.16" and bool(version) and version != "10.16",
        "memory_bytes": memsize if memsize else (raw.get("memory") or {}).get("total"),
        "gpu": _gpu(_out(raw, "system_profiler")),
        "timeouts": timeouts(raw),
    })


def timeouts(raw: dict[str, Any]) -> dict[str, str]:
    """Each system command that was killed at its timeout: name -> what happened (a fact the report shows)."""
    out = {}
    for name, cmd in (raw.get("commands") or {}).items():
        if (cmd or {}).get("timed_out"):
            out[name] = "%s %s" % (" ".join(cmd.get("argv") or MAC_COMMANDS.get(name, [name])),
                                   cmd.get("error") or "timed out")
    return out


# What system_profiler never gives for an Apple GPU (no VRAM line for unified memory): the Metal device's memory
# size, recommended working set and largest buffer. TensorFlow's device details carry none of them either.
NOT_COLLECTED = ("memory_size", "recommended_working_set", "max_buffer_length")


def _gpu(text: str | None) -> Gpu | None:
    """First GPU of ``system_profiler SPDisplaysDataType``, its JSON (``-json``, what the probe runs) or its text form
    (what public runner logs show): name, cores, Metal support, vendor, and whether it is the paravirtual device."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return _gpu_text(text)
    entries = (data.get("SPDisplaysDataType") if isinstance(data, dict) else None) or []
    for entry in entries:
        name = entry.get("sppci_model") or entry.get("_name")
        return _gpu_record(name, _int(entry.get("sppci_cores")),
                           entry.get("spdisplays_mtlgpufamilysupport") or entry.get("spdisplays_metal"),
                           entry.get("spdisplays_vendor"), "json")
    return None


def _gpu_text(text: str) -> Gpu | None:
    """The first adapter of the text form: ``Chipset Model:``, ``Total Number of Cores:``, ``Metal Support:`` (or
    the older ``Metal Family:``), ``Vendor:``. A VM's adapter has no core count."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep or not value.strip():
            continue
        if key == "Chipset Model" and "Chipset Model" in fields:
            break  # the second adapter
        fields.setdefault(key, value.strip())
    if "Chipset Model" not in fields:
        return None
    cores = (fields.get("Total Number of Cores") or "").split(" ")[0]
    return _gpu_record(fields["Chipset Model"], _int(cores or None),
                       fields.get("Metal Support") or fields.get("Metal Family"), fields.get("Vendor"), "text")


def _gpu_record(name: str | None, cores: int | None, metal: str | None, vendor: str | None, form: str) -> Gpu:
    return {"name": name, "cores": cores, "metal": metal, "vendor": vendor,
            "paravirtual": "Paravirtual" in (name or ""), "source": "system_profiler (%s)" % form,
            "not_collected": list(NOT_COLLECTED)}


def metal_name(value: str | None) -> str | None:
    """``spdisplays_metal3`` -> ``Metal 3``; the text form's ``Metal 3`` unchanged; None stays None."""
    if not value:
        return None
    if value.startswith("spdisplays_metal"):
        return "Metal " + value[len("spdisplays_metal"):]
    return value
