"""Raw probe outputs of real machines, as ``checks.probes.system.collect()`` records them.

Every output is quoted from shared/facts/metal-compat.md (§4, §5), which names its source; a
command whose output on that kind of machine is not known is recorded as NOT_RECORDED rather than
invented. Several machines are composites of reports from different machines of the same kind;
each field says where it comes from.
"""

from __future__ import annotations

import copy
import json
from typing import Any

NOT_RECORDED = {"returncode": None, "stdout": "", "stderr": "", "duration_s": 0.0, "timed_out": False,
                "error": "not recorded: no real output of this command is known for this machine"}


def ok(stdout: str) -> dict[str, Any]:
    return {"returncode": 0, "stdout": stdout + "\n", "stderr": "", "duration_s": 0.01, "timed_out": False,
            "error": None}


def unknown_oid(name: str) -> dict[str, Any]:
    """sysctl's answer for a key the kernel lacks (Intel: ids 12149188245, 9806727678)."""
    return {"returncode": 1, "stdout": "", "stderr": "sysctl: unknown oid '%s'\n" % name, "duration_s": 0.01,
            "timed_out": False, "error": None}


# Real M1 output of `system_profiler SPDisplaysDataType -json` (public sample 7831923002),
# with spdisplays_ndrvs abbreviated as in the facts file.
M1_DISPLAYS = json.dumps({"SPDisplaysDataType": [{
    "_name": "kHW_AppleM1Item", "spdisplays_mtlgpufamilysupport": "spdisplays_metal3",
    "spdisplays_ndrvs": [{"_name": "Color LCD"}], "spdisplays_vendor": "sppci_vendor_Apple",
    "sppci_bus": "spdisplays_builtin", "sppci_cores": "7", "sppci_device_type": "spdisplays_gpu",
    "sppci_model": "Apple M1"}]}, indent=2)


def _python(machine: str, version: str = "3.11.7", mac_ver: str = "14.4.1") -> dict[str, Any]:
    return {"system": "Darwin", "machine": machine, "processor": "arm" if machine == "arm64" else "i386",
            "mac_ver": mac_ver, "version": version, "implementation": "CPython",
            "executable": "/Users/dev/proj/.venv-tf/bin/python", "prefix": "/Users/dev/proj/.venv-tf",
            "base_prefix": "/opt/homebrew/opt/python@3.11/Frameworks/Python.framework/Versions/3.11", "bits": 64}


M1_NATIVE = {
    "python": _python("arm64"),
    "memory": {"total": 17179869184, "available": 8 * 2**30, "cpus": 8},
    "linux": None,
    "commands": {
        "hw.optional.arm64": ok("1"),                      # Flutter log, public sample 24346942904
        "sysctl.proc_translated": ok("0"),                 # M2, id 55092487935
        "kern.hv_vmm_present": ok("0"),                    # §4 table, Apple Silicon native
        "hw.model": NOT_RECORDED,                          # no M1 hw.model output in the facts
        "machdep.cpu.brand_string": ok("Apple M1"),        # ids 28488074915, 64762307
        "hw.memsize": ok("17179869184"),                   # test fixtures, ids 8504044047, 56288465352
        "sw_vers": ok("14.4.1"),                           # public sample 37825857555
        "system_profiler": ok(M1_DISPLAYS),                # public sample 7831923002
    },
}

ROSETTA = copy.deepcopy(M1_NATIVE)
ROSETTA["python"] = _python("x86_64")
ROSETTA["commands"]["sysctl.proc_translated"] = ok("1")   # Apple doc: "returns 1" under Rosetta
# hw.optional.arm64 stays 1 for a translated process (public sample 70190245119; partly unconfirmed)
ROSETTA["commands"]["machdep.cpu.brand_string"] = NOT_RECORDED  # 'VirtualApple' unconfirmed for the CLI

INTEL = {
    "python": _python("x86_64", mac_ver="12.6"),
    "memory": {"total": 34359738368, "available": 16 * 2**30, "cpus": 8},
    "linux": None,
    "commands": {
        "hw.optional.arm64": unknown_oid("hw.optional.arm64"),           # id 12149188245
        "sysctl.proc_translated": unknown_oid("sysctl.proc_translated"),  # ids 9806727678, 61415093348
        "kern.hv_vmm_present": ok("0"),
        "hw.model": NOT_RECORDED,
        "machdep.cpu.brand_string": ok("Intel(R) Core(TM) i5-1038NG7 CPU @ 2.00GHz"),  # id 68697819016
        "hw.memsize": ok("34359738368"),                                  # transcript id 68697819016
        "sw_vers": ok("12.6"),                                            # id 64762307
        "system_profiler": NOT_RECORDED,
    },
}

GITHUB_ARM64_VM = copy.deepcopy(M1_NATIVE)
GITHUB_ARM64_VM["memory"] = {"total": 7 * 2**30, "available": 4 * 2**30, "cpus": 3}  # runner: 3 CPU, 7 GB
GITHUB_ARM64_VM["commands"].update({
    "kern.hv_vmm_present": ok("1"),                      # public sample 63086774719
    "hw.model": ok("VirtualMac2,1"),                     # id 62803053733
    "machdep.cpu.brand_string": ok("Apple M1 (Virtual)"),  # ids 62803053733, 70126560013
    "hw.memsize": NOT_RECORDED,
    "sw_vers": NOT_RECORDED,
    # Only the text form is known ("Apple Paravirtual device", no core count; sample 62044262822).
    "system_profiler": NOT_RECORDED,
})

OLD_MACOS = copy.deepcopy(M1_NATIVE)
# Not a recorded machine: a Big Sur version string, to exercise the macOS 12 threshold.
OLD_MACOS["commands"]["sw_vers"] = ok("11.7.10")
