"""Setup's preflight, before any change: what a target needs of the machine, and the pure judgement of the probes.

The needs come from the matrix (the target's macOS range, its plugin's build record, its Python range); the
outputs are those of ``scripts.preflight.probe`` (one ``process.run`` each, recorded as ``Completed.to_json()``),
so the rules run the same on a recorded output from a real Mac as on a live one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from checks import platforms
from checks.errors import UsageError
from checks.matrix import Target

MACOS_FIX = "softwareupdate --list  # install macOS %s or later (System Settings > General > Software Update)"
TOOLS_FIX = "xcode-select --install  # the Command Line Tools: make, xcrun, clang%s"


class Need(NamedTuple):
    """One thing the machine must have: ``probe`` is the command that checks it (empty: the interpreter)."""

    name: str  # macos, sdk, make, python
    what: str
    probe: tuple[str, ...]
    spec: SpecifierSet | None
    fix: str
    arch: str = ""  # python: the architecture it must be built for


class Finding(NamedTuple):
    need: Need
    ok: bool
    found: str


def needs(target: Target, python: str, python_fix: str) -> list[Need]:
    """What ``target`` needs of a machine of its platform, in the order preflight checks it."""
    out: list[Need] = []
    if target.platform.startswith("macos") and target.macos:
        floor = _floor(target.macos)
        out.append(Need("macos", "macOS %s" % target.macos, ("sw_vers", "-productVersion"), target.macos,
                        MACOS_FIX % floor))
    build = target.plugin.build if target.plugin else None
    if build and build.sdk is not None:
        out.append(Need("sdk", "Command Line Tools or Xcode with a macOS SDK %s" % build.sdk,
                        ("xcrun", "--show-sdk-version"), build.sdk,
                        TOOLS_FIX % ("; the macOS %s SDK comes with version 16 or later" % _floor(build.sdk))))
    if build and "make" in build.tools:
        out.append(Need("make", "make (builds %s)" % target.plugin.name if target.plugin else "make",
                        ("make", "--version"), None, TOOLS_FIX % ""))
    arch = platforms.arch_name(target.platform.split("-", 1)[1])  # linux-aarch64: an arm64 interpreter
    out.append(Need("python", "a native %s Python %s in %s" % (arch, python, target.python), (), target.python,
                    python_fix, arch))
    return out


def _floor(spec: SpecifierSet) -> str:
    return next((s.version for s in spec if s.operator in (">=", "==", "~=")), str(spec))


def _version(text: str) -> Version | None:
    try:
        return Version(text.strip())
    except InvalidVersion:
        return None


def _first_line(output: Mapping[str, Any]) -> str:
    text = (output.get("stderr") or "").strip() or (output.get("stdout") or "").strip() or output.get("error") or ""
    return text.splitlines()[0] if text else "exit code %s" % output.get("returncode")


def judge(wanted: Sequence[Need], outputs: Mapping[str, Mapping[str, Any]], arch: str, version: str) -> list[Finding]:
    """Each need against its probe's output (``outputs[name]``), the interpreter's ``arch`` and ``version``."""
    found = []
    for need in wanted:
        if need.name == "python":
            ok = arch == need.arch and need.spec is not None and need.spec.contains(version)
            found.append(Finding(need, ok, "%s Python %s" % (arch, version)))
            continue
        out = outputs.get(need.name) or {"returncode": None, "error": "not probed"}
        if out.get("timed_out"):  # a fact, not a missing tool: it never answered
            found.append(Finding(need, False, "no answer: `%s` %s" % (" ".join(need.probe),
                                                                      out.get("error") or "timed out")))
            continue
        if out.get("returncode") != 0:
            found.append(Finding(need, False, "missing: `%s` gave %s" % (" ".join(need.probe), _first_line(out))))
            continue
        stdout = (out.get("stdout") or "").strip()
        if need.spec is None:
            found.append(Finding(need, True, stdout.splitlines()[0] if stdout else "present"))
            continue
        v = _version(stdout)
        ok = v is not None and need.spec.contains(v, prereleases=True)
        found.append(Finding(need, ok, stdout or "no version printed"))
    return found


def refusal(findings: Sequence[Finding], label: str) -> UsageError | None:
    """Exit 2 naming everything missing and the commands that fix it, in order; None when all is there."""
    missing = [f for f in findings if not f.ok]
    if not missing:
        return None
    fixes: list[str] = []
    for f in missing:  # one line per command: xcode-select --install brings both the SDK and make
        if not any(line.split("  #")[0] == f.need.fix.split("  #")[0] for line in fixes):
            fixes.append(f.need.fix)
    what = "; ".join("%s needed, found %s" % (f.need.what, f.found) for f in missing)
    return UsageError("preflight for %s: %s. Nothing was changed" % (label, what), fix="\n".join(fixes))
