"""Platform keys and profile choice: the one place that names operating systems, architectures and profiles.

Pure functions over what an interpreter reports (``platform.system()``, ``platform.machine()``);
probes, setup and the checks all call these.
"""

from __future__ import annotations

from checks.errors import UsageError

PROFILES = ("metal", "cpu")
OS_NAMES = {"Darwin": "macos", "Linux": "linux", "Windows": "windows"}
ARCH_NAMES = {"aarch64": "arm64", "amd64": "x86_64", "AMD64": "x86_64"}


def os_name(system: str) -> str:
    """``Darwin`` -> ``macos``; ``Linux`` -> ``linux``."""
    return OS_NAMES.get(system, system.lower())


def arch_name(machine: str) -> str:
    """``aarch64`` -> ``arm64``; ``AMD64`` -> ``x86_64``."""
    return ARCH_NAMES.get(machine, machine)


def platform_key(os: str, arch: str) -> str:
    """The matrix's platform key: ``macos-arm64``, ``linux-aarch64`` (Linux wheels say aarch64), ``linux-x86_64``."""
    return "%s-%s" % (os, "aarch64" if os == "linux" and arch == "arm64" else arch)


MAC_GPU = "macos-arm64"  # the one platform with a Metal GPU: platform_key("macos", "arm64")


def choose_profile(requested: str, os: str, arch: str, on_apple_silicon: bool) -> tuple[str, str]:
    """Setup's (profile, reason). auto: metal on macOS arm64 (also for an x86_64 Python on Apple Silicon,
    for which an arm64 one is looked for), cpu elsewhere. Raises UsageError for an impossible request."""
    if requested not in ("auto",) + PROFILES:
        raise UsageError("unknown profile %r: choose one of %s" % (requested, ", ".join(("auto",) + PROFILES)))
    if requested == "metal" and not (os == "macos" and arch == "arm64"):
        raise UsageError("--profile metal needs macOS on Apple Silicon with an arm64 Python; this is %s %s"
                         % (os, arch))
    if requested != "auto":
        return requested, "asked for with --profile %s" % requested
    if os == "macos" and arch == "arm64":
        return "metal", "macOS on Apple Silicon with a native arm64 Python"
    if os == "macos" and on_apple_silicon:
        return "metal", "Apple Silicon: an arm64 Python will be looked for (this one is %s)" % arch
    if os == "macos":
        return "cpu", "Intel Mac: tensorflow-metal and TensorFlow stopped publishing x86_64 wheels"
    return "cpu", "%s has no Metal GPU (Metal is Apple's GPU API), so TensorFlow runs on the CPU" % os.capitalize()


def target_arch(profile: str, os: str, arch: str, on_apple_silicon: bool) -> str:
    """The architecture the environment is built for: arm64 on any Apple Silicon Mac, never x86_64 there."""
    return "arm64" if profile == "metal" or (on_apple_silicon and os == "macos") else arch


def installed_profile(requested: str, marker_profile: str | None, os: str, arch: str, has_plugin: bool) -> str:
    """Verify's profile: the requested one; for auto the setup marker's, else metal for a native macOS arm64
    interpreter with a GPU plugin installed (a translated process reports x86_64, so arm64 means native)."""
    if requested != "auto":
        return requested
    if marker_profile in PROFILES:
        return marker_profile
    return "metal" if os == "macos" and arch == "arm64" and has_plugin else "cpu"
