"""Raw probe outputs of real machines, as ``checks.probes.system.collect()`` records them.

Every output is quoted from docs/facts/machines.md, which names its source; a
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
        "kern.hv_vmm_present": ok("0"),                    # docs/facts/machines.md, Apple Silicon native
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
GITHUB_ARM64_VM["python"] = _python("arm64", mac_ver="")  # macOS version not recorded
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

# M3 Max: only the GPU core count ("sppci_cores" : "40", docs/facts/machines.md "GPU") and the chip name (metal log line
# "Metal device set to: Apple M3 Max", public sample 66319070134) are recorded; the rest is not known.
M3_MAX = {
    "python": _python("arm64", mac_ver=""),
    "memory": {"total": None, "available": None},
    "linux": None,
    "commands": {name: NOT_RECORDED for name in M1_NATIVE["commands"]},
}
M3_MAX["commands"]["system_profiler"] = ok(json.dumps({"SPDisplaysDataType": [
    {"sppci_model": "Apple M3 Max", "sppci_cores": "40"}]}, indent=2))
M3_MAX["commands"]["machdep.cpu.brand_string"] = ok("Apple M3 Max")

# --- CI runners and sandboxes (issue #21) ------------------------------------------------------------------------
# The text form of `system_profiler SPDisplaysDataType` on a GitHub-hosted macOS VM, verbatim from public sample
# 62044262822 (docs/facts/machines.md; the same lines in landscape-2026: "Chipset Model: Apple Paravirtual device"
# ... "Metal Support: Metal 3", no "Total Number of Cores"). The probe runs the -json form; no public log shows the
# JSON of this device, so the text form is recorded with its own argv, and derive() reads either.
PARAVIRTUAL_TEXT = """Graphics/Displays:

    Apple Paravirtual device:

      Chipset Model: Apple Paravirtual device
      Type: GPU
      Bus: Built-In
      Vendor: Apple (0x106b)
      Metal Support: Metal 3
"""


def text_form(stdout: str) -> dict[str, Any]:
    return {**ok(stdout.rstrip("\n")), "argv": ["system_profiler", "SPDisplaysDataType"]}


HOSTED_MACOS15 = copy.deepcopy(GITHUB_ARM64_VM)
HOSTED_MACOS15["commands"]["system_profiler"] = text_form(PARAVIRTUAL_TEXT)

# The metal pair setup installs on macos-arm64 (envs/matrix.json's default target, the lock's versions), in the
# shape checks.probes.packages writes: constructed, as in tests/test_rules.py (no packages.json of a runner is public).
METAL_PACKAGES = {
    "versions": {"tensorflow": "2.19.1", "tensorflow-cpu": None, "tensorflow-macos": None, "tensorflow-intel": None,
                 "tensorflow-metal": "1.2.0", "tensorflow-metal-plugin": None, "keras": "3.15.1", "tf-keras": None,
                 "numpy": "2.1.3", "packaging": "26.4", "psutil": "7.2.2"},
    "metal_plugin": "/Users/runner/work/app/app/.venv-tf/lib/python3.11/site-packages/tensorflow-plugins/"
                    "libmetal_plugin.dylib",
    "environment": {"prefix": "/Users/runner/work/app/app/.venv-tf", "owned": True, "is_venv": True,
                    "marker_error": None, "marker": {"schema_version": 1, "profile": "metal", "platform": "macos-arm64",
                                                     "lock": "envs/locks/metal-macos-arm64-py3.11.txt"}},
    "lock": None, "unmet": [], "binaries": {}, "env": {},
}


def _recorded_linux_child() -> dict[str, Any]:
    """The TensorFlow child's JSON recorded on this project's Linux machine (tests/bundles/linux-x86_64-training:
    TensorFlow 2.19.1, GPU requested, none listed; its CPU matmul and CPU training are real)."""
    from pathlib import Path

    path = Path(__file__).resolve().parent / "bundles" / "linux-x86_64-training" / "tensorflow.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _vm_child(gpu_listed: bool) -> dict[str, Any]:
    tf = _recorded_linux_child()
    tf["not_known"] = {
        "gpus": "what TensorFlow lists on the Apple Paravirtual device is in no public log (no tensorflow-metal run "
                "on a hosted runner is published): %s" % (
                    "the listing here is TensorFlow's name for a first GPU, a stand-in" if gpu_listed else
                    "the empty list here is the recorded Linux child's, a stand-in"),
        "gpu_details": "TensorFlow's device details on the paravirtual device are in no public log: left empty",
    }
    if gpu_listed:
        tf["tensorflow"]["gpus"] = ["/physical_device:GPU:0"]
        gpu = copy.deepcopy(tf["matmul"]["cpu"])
        gpu.update({"requested": "/GPU:0", "placed": "/job:localhost/replica:0/task:0/device:GPU:0"})
        tf["matmul"]["gpu"] = gpu
        tf["not_known"]["matmul.gpu"] = ("no matmul timing or error of TensorFlow on the paravirtual device is public: "
                                         "the figures are the recorded CPU side's, placed on GPU:0 (a stand-in that "
                                         "gives a right answer at CPU speed)")
    else:
        tf["config"]["gpu"] = True
    return tf


SANDBOXED_M1 = copy.deepcopy(M1_NATIVE)
# What system_profiler prints inside a Seatbelt sandbox is not recorded anywhere public.
SANDBOXED_M1["commands"]["system_profiler"] = NOT_RECORDED
SANDBOXED_PACKAGES = copy.deepcopy(METAL_PACKAGES)
SANDBOXED_PACKAGES["environment"]["prefix"] = "/Users/dev/proj/.venv-tf"
SANDBOXED_PACKAGES["metal_plugin"] = ("/Users/dev/proj/.venv-tf/lib/python3.11/site-packages/tensorflow-plugins/"
                                      "libmetal_plugin.dylib")
SANDBOXED_PACKAGES["env"] = {"CODEX_SANDBOX": "seatbelt"}  # set by Codex's Seatbelt sandbox in what it starts


def _sandboxed_child() -> dict[str, Any]:
    tf = _recorded_linux_child()
    tf["not_known"] = {"gpus": "a sandboxed process's TensorFlow output is in no public log; MTLCopyAllDevices() "
                               "returns an empty array under a Seatbelt profile that denies IOKit "
                               "(openai/codex#17644), so no GPU is listed: the recorded Linux child's empty list "
                               "stands in"}
    return tf


# name -> (raw outputs, what is recorded and where from, packages.json or None, tensorflow.json or None)
CI_BUNDLES = {
    "github-macos15-gpu-listed": (
        HOSTED_MACOS15, "GitHub-hosted macos-15 arm64 runner (a Virtualization.framework VM): kern.hv_vmm_present = 1 "
        "(sample 63086774719), VirtualMac2,1 and 'Apple M1 (Virtual)' (62803053733), system_profiler's text form "
        "with the Apple Paravirtual device and Metal 3 (62044262822); sw_vers and hw.memsize not recorded. "
        "packages.json: the metal pair setup installs (constructed). tensorflow.json: the Linux child recorded here "
        "(tests/bundles/linux-x86_64-training) with a GPU listed and its matmul on GPU:0 as stand-ins: no public log "
        "shows TensorFlow on the paravirtual device (its 'not_known' says which values).",
        METAL_PACKAGES, _vm_child(True)),
    "github-macos15-no-gpu": (
        HOSTED_MACOS15, "The same hosted macos-15 runner with no GPU listed by TensorFlow (the Linux child recorded "
        "here, unchanged: no GPU listed; a stand-in for the unknown output on the runner).",
        METAL_PACKAGES, _vm_child(False)),
    "sandboxed-m1": (
        SANDBOXED_M1, "Apple M1 (the m1-native outputs) running verify inside a Seatbelt sandbox (openai/codex#17644: "
        "IOKit's GPU user client denied, Metal sees no device); CODEX_SANDBOX=seatbelt set (Codex sets it in the "
        "processes its sandbox starts); system_profiler under the sandbox not recorded. tensorflow.json: the Linux "
        "child recorded here (no GPU listed) as a stand-in.",
        SANDBOXED_PACKAGES, _sandboxed_child()),
}

# name -> (raw outputs, what is recorded and where from)
BUNDLES = {
    "m1-native": (M1_NATIVE, "Apple Silicon M1, native arm64 Python. Composite of real outputs from several M1/M2 "
                             "machines (sources beside each value in tests/machines.py); hw.model not recorded. "
                             "The interpreter facts (python.json) are assumed native arm64, not recorded."),
    "m3-max": (M3_MAX, "Apple M3 Max: only the GPU core count and chip name are recorded; every other command is "
                       "marked not recorded. python.json is assumed native arm64."),
    "intel-mac": (INTEL, "Intel Mac (i5-1038NG7, macOS 12.6): real sysctl answers for the missing arm64 keys."),
    "rosetta": (ROSETTA, "x86_64 Python under Rosetta on Apple Silicon: sysctl.proc_translated = 1 (Apple's doc); "
                         "hw.optional.arm64 stays 1 (partly unconfirmed)."),
    "github-arm64-vm": (GITHUB_ARM64_VM, "GitHub-hosted arm64 macOS runner (a VM): kern.hv_vmm_present = 1, "
                                         "VirtualMac2,1, 'Apple M1 (Virtual)'; system_profiler JSON not recorded."),
}
