"""Known import clashes with TensorFlow (``envs/import-clashes.json``): which pinned packages abort or hang beside
which TensorFlow on which platform. Pure over the data and a lock's pins; setup warns with it at lock time and
verify's ``packages.project`` quotes it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from checks.paths import ROOT

CLASHES_PATH = ROOT / "envs" / "import-clashes.json"
TENSORFLOWS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos")


class Clash(NamedTuple):
    id: str
    package: str
    package_versions: SpecifierSet
    tensorflow_versions: SpecifierSet
    platforms: tuple[str, ...]
    effect: str
    fits: str
    sources: tuple[str, ...]

    def line(self, package_version: str, tensorflow_version: str, platform: str) -> str:
        return "%s %s with TensorFlow %s on %s: %s [%s; %s]; fits: %s" % (
            self.package, package_version, tensorflow_version, platform, self.effect, self.id,
            ", ".join(self.sources), self.fits)


def load(path: Path = CLASHES_PATH) -> list[Clash]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return [Clash(c["id"], canonicalize_name(c["package"]), SpecifierSet(c["package_versions"]),
                  SpecifierSet(c["tensorflow_versions"]), tuple(c["platforms"]), c["effect"], c["fits"],
                  tuple(c["sources"])) for c in data["clashes"]]


def found(pins: Mapping[str, str], platform: str, clashes: list[Clash] | None = None) -> list[str]:
    """One line per known clash the pins (canonical name -> version) hold on ``platform``."""
    tf = next((pins[n] for n in TENSORFLOWS if n in pins), None)
    out = []
    for c in load() if clashes is None else clashes:
        version = pins.get(c.package)
        if tf is None or version is None or platform not in c.platforms:
            continue
        try:
            if Version(version) in c.package_versions and Version(tf) in c.tensorflow_versions:
                out.append(c.line(version, tf, platform))
        except InvalidVersion:
            continue
    return out


def for_package(name: str) -> list[Clash]:
    return [c for c in load() if c.package == canonicalize_name(name)]
