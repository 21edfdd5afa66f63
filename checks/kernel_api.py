"""Does a TensorFlow export the kernel C API for resource variables? Judged from recorded wheel facts (pure).

``tensorflow/c/kernels_experimental.h`` declares the entry points a PluggableDevice needs to read and update
resource variables (``TF_AssignUpdateVariable``, ``TF_GetInputTensorFromVariable``, ...). The facts in
envs/kernel-c-api.json (made by ``invoke abi --refresh`` from the macOS arm64 wheels, each with its sha256; a new
release is added by ``invoke abi --tensorflow V`` or ``invoke refresh``) say
which binaries of each TensorFlow wheel export each declared name. Upstream: tensorflow/tensorflow#126374
(the exports vanished in 2.20.0) and #126377 (restored on master, expected in 2.22).

The facts are read once by ``checks.knowledge.load`` (``Knowledge.kernel_facts``); the functions here judge them
and do no I/O. ``checks.views`` renders the verdicts for `invoke abi`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from packaging.version import InvalidVersion, Version

from checks.matrix import MatrixError
from checks.paths import ROOT

DATA_PATH = ROOT / "envs" / "kernel-c-api.json"
HEADER = "tensorflow/c/kernels_experimental.h"


class KernelApi(NamedTuple):
    tensorflow: str
    wheel: str
    sha256: str
    declared: list[str]
    missing: list[str]  # declared in the header, exported by no binary of the wheel

    @property
    def complete(self) -> bool:
        return not self.missing


def load_facts(path: Path = DATA_PATH) -> dict[str, Any]:
    """The recorded exports (read once, by ``checks.knowledge.load``); a malformed file raises ``MatrixError``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        verdicts = [judge(fact) for fact in data["tensorflow"]]
        for api in verdicts:  # every record has a version and every plugin what it needs and what lacking means
            Version(api.tensorflow)
            for plugin in data["plugins"]:
                plugin_effect(plugin, api)
        if not verdicts or not isinstance(data["upstream"], str):
            raise ValueError("no TensorFlow records or no upstream note")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MatrixError("kernel C API facts %s: %s" % (path, exc)) from None
    return dict(data)


def judge(fact: Mapping[str, Any]) -> KernelApi:
    """The verdict for one recorded wheel."""
    missing = [name for name in fact["declared"] if not fact["exported"].get(name)]
    return KernelApi(fact["version"], fact["wheel"], fact["sha256"], list(fact["declared"]), missing)


def for_tensorflow(data: Mapping[str, Any], version: str) -> KernelApi | None:
    """The verdict for TensorFlow ``version``; a final patch release uses its minor line's final record (a prerelease
    only its own). None if unrecorded."""
    wanted = Version(version)
    facts = data["tensorflow"]
    fact = next((f for f in facts if Version(f["version"]) == wanted), None)
    if fact is None and not wanted.is_prerelease:  # a final release of the line stands in for a patch release
        fact = next((f for f in facts if Version(f["version"]).release[:2] == wanted.release[:2]
                     and not Version(f["version"]).is_prerelease), None)
    return judge(fact) if fact else None


def plugin_effect(plugin: Mapping[str, Any], api: KernelApi) -> str:
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
