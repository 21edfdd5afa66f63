"""Will tensorflow-metal load with a TensorFlow? Decided from the wheels' Mach-O facts, without a Mac (pure).

The facts are fingerprints in ``envs/abi/`` (made from the macOS arm64 wheels by ``invoke abi --refresh``, or for one
release by ``invoke abi --tensorflow V`` / ``invoke refresh``: scripts/releases.py),
read once by ``checks.knowledge.load``; everything else here is pure. The rules dyld follows
(docs/facts/abi.md explains them):

1. Library not loaded. Each non-system load command of the plugin must name an image TensorFlow has
   already loaded (by install name), or a file its rpaths reach inside site-packages.
2. Symbol not found. A two-level bind must be in the export trie of the image its library ordinal names
   (re-exports included); a flat-namespace bind must be exported by an image visible to flat lookups:
   the pywrap extension module itself is hidden (Python loads it RTLD_LOCAL), the dylibs it depends on
   are not. Non-lazy binds are bound before lazy ones (TensorFlow dlopens with RTLD_NOW, so lazy ones
   fail the import too); weak imports may stay unbound. A flat symbol that no TensorFlow exports at all
   is taken to come from the system libraries, which cannot be checked on Linux.

A verdict is "loads" or the exact dyld error; loading is not running.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from checks.matrix import DEFAULT_PLUGIN, MatrixError
from checks.paths import ROOT

ABI_DIR = ROOT / "envs" / "abi"
PLUGIN_DIR = "tensorflow-plugins"


@dataclass(frozen=True)
class Verdict:
    tensorflow: str
    metal: str
    loads: bool
    error: str | None = None  # the first dyld error, as dyld words it
    missing: list[dict[str, str]] = field(default_factory=list)  # every missing symbol, with its image
    found_instead: list[str] = field(default_factory=list)  # install names present, for Library not loaded

    @property
    def kind(self) -> str:
        if self.loads:
            return "loads"
        return "library" if self.error and self.error.startswith("Library not loaded") else "symbol"

    def short(self) -> str:
        return (self.error or "").splitlines()[0] if not self.loads else "loads"

    def explain(self) -> list[str]:
        lines = []
        for m in self.missing:
            lines.append("missing %s (%s) in %s" % (m["symbol"], m.get("demangled") or "C symbol", m["image"]))
        if self.found_instead:
            lines.append("loaded instead: " + ", ".join(self.found_instead))
        return lines

    def to_json(self) -> dict[str, Any]:
        return {"tensorflow": self.tensorflow, "metal": self.metal, "loads": self.loads, "error": self.error,
                "missing": self.missing, "found_instead": self.found_instead}


Fingerprints = dict[str, dict[str, dict[str, Any]]]  # kind ("tensorflow" or a plugin's name) -> version -> fp


def load_fingerprints(abi_dir: Path = ABI_DIR) -> Fingerprints:
    """{"tensorflow": {version: fp}, "tensorflow-metal": {version: fp}, ...} from envs/abi/*.json."""
    out: Fingerprints = {"tensorflow": {}}
    for path in sorted(Path(abi_dir).glob("*.json")):
        try:
            fp = json.loads(path.read_text(encoding="utf-8"))
            out.setdefault(fp["kind"], {})[fp["version"]] = fp
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MatrixError("fingerprint %s: %s" % (path, exc)) from None
    return out


DECLARED_DIR = ROOT / "envs" / "declared"
Declarations = dict[str, dict[str, dict[str, Any]]]  # plugin -> version -> what its sdist declares


def load_declared(declared_dir: Path = DECLARED_DIR) -> Declarations:
    """{plugin: {version: record}} from envs/declared/*.json: what a plugin published as an sdist declares
    (its Requires-Dist on TensorFlow, Requires-Python, build requirements), read by scripts/releases.py."""
    out: Declarations = {}
    for path in sorted(Path(declared_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            Version(record["version"])
            if record["tensorflow"] is not None:
                SpecifierSet(record["tensorflow"])
            out.setdefault(record["kind"], {})[record["version"]] = record
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MatrixError("declaration %s: %s" % (path, exc)) from None
    return out


def declares(record: dict[str, Any], tensorflow: str) -> bool:
    """Does the plugin release declare (Requires-Dist) a TensorFlow that contains ``tensorflow``?"""
    spec = record.get("tensorflow")
    return spec is not None and SpecifierSet(spec).contains(tensorflow, prereleases=True)


def _exports(img: dict[str, Any], by_install: dict[str, dict[str, Any]]) -> set[str]:
    names = set(img["exports"])
    for reexported in img.get("reexports", []):
        if reexported in by_install:
            names |= _exports(by_install[reexported], by_install)
    return names


def _rpath_target(plugin: dict[str, Any], load: str, files: set[str]) -> str | None:
    """The site-packages path an @rpath load resolves to through the plugin's rpaths, if the file exists."""
    if not load.startswith("@rpath/"):
        return None
    for rpath in plugin["rpaths"]:
        candidate = posixpath.normpath(posixpath.join(rpath.replace("@loader_path", PLUGIN_DIR), load[len("@rpath/"):]))
        if candidate in files:
            return candidate
    return None


def verdict(tf: dict[str, Any], plugin: dict[str, Any], known_tf_symbols: set[str]) -> Verdict:
    """What dyld does when TensorFlow ``tf`` loads the plugin."""
    loaded = tf["loaded"]
    by_install = {img["install_name"]: img for img in loaded}
    by_path = {img["path"]: img for img in loaded}
    files = set(tf["files"])
    resolved: dict[str, dict[str, Any]] = {}
    for load in plugin["loads"]:
        img = by_install.get(load) or by_path.get(_rpath_target(plugin, load, files) or "")
        if img is None:
            base = posixpath.basename(load)
            instead = [i["install_name"] for i in loaded if posixpath.basename(i["path"]) == base]
            return Verdict(tf["version"], plugin["version"], False, "Library not loaded: %s" % load,
                           found_instead=instead)
        resolved[load] = img
    flat_images = [i for i in loaded if i["flat_visible"]]
    missing = []
    for cls in ("standard", "lazy"):
        for b in plugin["binds"]:
            if b["class"] != cls or b["weak"]:
                continue
            if b["library"] == "flat":
                if any(b["symbol"] in _exports(i, by_install) for i in flat_images):
                    continue
                if b["symbol"] not in known_tf_symbols:
                    continue  # not TensorFlow's: a system library provides it
                missing.append({"symbol": b["symbol"], "demangled": b.get("demangled"), "image": "flat namespace",
                                "flat": "yes"})
            else:
                img = resolved[b["library"]]
                if b["symbol"] not in _exports(img, by_install):
                    missing.append({"symbol": b["symbol"], "demangled": b.get("demangled"), "image": img["path"]})
    if not missing:
        return Verdict(tf["version"], plugin["version"], True)
    first = missing[0]
    if first.get("flat"):
        error = "symbol not found in flat namespace '%s'" % first["symbol"]
    else:
        error = "Symbol not found: %s\n  Referenced from: %s/libmetal_plugin.dylib\n  Expected in: %s" % (
            first["symbol"], PLUGIN_DIR, first["image"])
    return Verdict(tf["version"], plugin["version"], False, error, missing)


def known_symbols(fps: Fingerprints) -> set[str]:
    return {name for fp in fps["tensorflow"].values() for img in fp["loaded"] for name in img["exports"]}


def fingerprint_for(tensorflow: str, fps: Fingerprints) -> dict[str, Any] | None:
    """TensorFlow ``tensorflow``'s fingerprint, or a final release of its minor line standing in for another final
    (patch) release. A prerelease stands only for itself, and none stands in for it."""
    wanted = Version(tensorflow)
    exact = next((fp for v, fp in fps["tensorflow"].items() if Version(v) == wanted), None)
    if exact is not None or wanted.is_prerelease:
        return exact
    return next((fp for v, fp in sorted(fps["tensorflow"].items(), key=lambda kv: Version(kv[0]))
                 if Version(v).release[:2] == wanted.release[:2] and not Version(v).is_prerelease), None)


def predict(tensorflow: str, metal: str, fps: Fingerprints, plugin: str = DEFAULT_PLUGIN) -> Verdict | None:
    """The verdict for a pair; the TensorFlow fingerprint of the same minor line stands in for a patch release.
    None when no fingerprint covers the pair."""
    plugin_fp = fps.get(plugin, {}).get(str(Version(metal)))
    tf = fingerprint_for(tensorflow, fps)
    if not plugin_fp or not tf:
        return None
    return verdict(tf, plugin_fp, known_symbols(fps))


def grid(fps: Fingerprints, plugin: str = DEFAULT_PLUGIN) -> list[Verdict]:
    """Every fingerprinted TensorFlow against every fingerprinted release of ``plugin``, oldest first."""
    known = known_symbols(fps)
    return [verdict(tf, pl, known)
            for _, tf in sorted(fps["tensorflow"].items(), key=lambda kv: Version(kv[0]))
            for _, pl in sorted(fps.get(plugin, {}).items(), key=lambda kv: Version(kv[0]))]
