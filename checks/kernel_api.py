"""Does a TensorFlow export the kernel C API for resource variables? Judged from recorded wheel facts (pure).

``tensorflow/c/kernels_experimental.h`` declares the entry points a PluggableDevice needs to read and update
resource variables (``TF_AssignUpdateVariable``, ``TF_GetInputTensorFromVariable``, ...). The facts in
envs/kernel-c-api.json (made by ``invoke abi --refresh`` from the macOS arm64 wheels, each with its sha256) say
which binaries of each TensorFlow wheel export each declared name. Upstream: tensorflow/tensorflow#126374
(the exports vanished in 2.20.0) and #126377 (restored on master, expected in 2.22).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from checks.matrix import ROOT

DATA_PATH = ROOT / "envs" / "kernel-c-api.json"
HEADER = "tensorflow/c/kernels_experimental.h"


@dataclass(frozen=True)
class KernelApi:
    tensorflow: str
    wheel: str
    sha256: str
    declared: list[str]
    missing: list[str]  # declared in the header, exported by no binary of the wheel

    @property
    def complete(self) -> bool:
        return not self.missing


@functools.cache
def load(path: Path = DATA_PATH) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def judge(fact: dict[str, Any]) -> KernelApi:
    """The verdict for one recorded wheel."""
    missing = [name for name in fact["declared"] if not fact["exported"].get(name)]
    return KernelApi(fact["version"], fact["wheel"], fact["sha256"], list(fact["declared"]), missing)


def for_tensorflow(version: str, data: dict[str, Any] | None = None) -> KernelApi | None:
    """The verdict for TensorFlow ``version``; a patch release uses its minor line's record. None if unrecorded."""
    data = data or load()
    line = Version(version).release[:2]
    facts = data["tensorflow"]
    fact = next((f for f in facts if f["version"] == version), None) or next(
        (f for f in facts if Version(f["version"]).release[:2] == line), None)
    return judge(fact) if fact else None


def plugin_effect(plugin: dict[str, Any], api: KernelApi) -> str:
    """What the missing entry points mean for one plugin (one line)."""
    lacking = [n for n in plugin["needs"] if n in api.missing]
    head = "%s %s" % (plugin["name"], plugin["version"])
    if not lacking:
        return "%s: every entry point it needs is exported" % head
    return "%s: lacks %s: %s" % (head, ", ".join(lacking), plugin["when_missing"])


def newer_releases(known: list[str], published: list[str]) -> list[str]:
    """Final releases on the index newer than every recorded one (what `--refresh` asks to add)."""
    newest = max(Version(v) for v in known)
    out = []
    for text in published:
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        if v > newest and not v.is_prerelease and not v.is_devrelease:
            out.append(text)
    return sorted(out, key=Version)


def summary(data: dict[str, Any] | None = None) -> list[str]:
    """One line per recorded TensorFlow: how many of the header's functions its wheel exports."""
    data = data or load()
    lines = ["Kernel C API for resource variables (%s), exported by the macOS arm64 wheels:" % HEADER]
    for fact in sorted(data["tensorflow"], key=lambda f: Version(f["version"])):
        api = judge(fact)
        lines.append("  %-11s %2d of %d%s" % (api.tensorflow, len(api.declared) - len(api.missing), len(api.declared),
                                             "" if api.complete else "  (missing: %s%s)" % (
                                                 ", ".join(api.missing[:3]), ", ..." if len(api.missing) > 3 else "")))
    return lines + ["  `invoke abi --tensorflow V` says what that means for each plugin."]


def report(version: str, data: dict[str, Any] | None = None) -> list[str] | None:
    """The lines `invoke abi --tensorflow V` adds about the kernel C API; None when V is not recorded."""
    data = data or load()
    api = for_tensorflow(version, data)
    if api is None:
        return None
    total = len(api.declared)
    if api.complete:
        head = "Kernel C API for resource variables (%s): all %d functions exported" % (HEADER, total)
    else:
        head = "Kernel C API for resource variables (%s): %d of %d functions exported by no binary of the wheel" % (
            HEADER, len(api.missing), total)
    lines = [head + " (%s, sha256 %s...)" % (api.wheel, api.sha256[:12])]
    if api.missing:
        lines.append("  missing: " + ", ".join(api.missing))
    lines += ["  " + plugin_effect(p, api) for p in data["plugins"]]
    if api.missing:
        lines.append("  " + data["upstream"])
    return lines
