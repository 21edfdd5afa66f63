"""Will tensorflow-metal load with a TensorFlow? Decided from the wheels' Mach-O facts, without a Mac (pure).

The facts are fingerprints in ``envs/abi/`` (made by ``invoke abi --refresh`` from the macOS arm64 wheels;
docs/facts/abi.md explains the rules):

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

import functools
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from checks.matrix import ROOT

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
        return "loads" if self.loads else self.error.splitlines()[0]

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


@functools.cache
def fingerprints(abi_dir: Path = ABI_DIR) -> dict[str, dict[str, dict[str, Any]]]:
    """{"tensorflow": {version: fp}, "tensorflow-metal": {version: fp}} from envs/abi/*.json."""
    out: dict[str, dict[str, dict[str, Any]]] = {"tensorflow": {}, "tensorflow-metal": {}}
    for path in sorted(Path(abi_dir).glob("*.json")):
        fp = json.loads(path.read_text(encoding="utf-8"))
        out[fp["kind"]][fp["version"]] = fp
    return out


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


def known_symbols(fps: dict[str, dict[str, dict[str, Any]]]) -> set[str]:
    return {name for fp in fps["tensorflow"].values() for img in fp["loaded"] for name in img["exports"]}


def predict(tensorflow: str, metal: str, fps: dict[str, Any] | None = None) -> Verdict | None:
    """The verdict for a pair; the TensorFlow fingerprint of the same minor line stands in for a patch release.
    None when no fingerprint covers the pair."""
    fps = fps or fingerprints()
    plugin = fps["tensorflow-metal"].get(str(Version(metal)))
    line = Version(tensorflow).release[:2]
    tf = fps["tensorflow"].get(tensorflow) or next(
        (fp for v, fp in sorted(fps["tensorflow"].items()) if Version(v).release[:2] == line), None)
    if not plugin or not tf:
        return None
    return verdict(tf, plugin, known_symbols(fps))


def grid(fps: dict[str, Any] | None = None) -> list[Verdict]:
    fps = fps or fingerprints()
    known = known_symbols(fps)
    return [verdict(tf, pl, known)
            for _, tf in sorted(fps["tensorflow"].items(), key=lambda kv: Version(kv[0]))
            for _, pl in sorted(fps["tensorflow-metal"].items(), key=lambda kv: Version(kv[0]))]


def expected_from_report(pair: Any) -> str | None:
    """What a matrix pair's user report says of the import: 'loads', the error it names, or None (no report)."""
    if pair.status == "verified" or (pair.status == "broken" and pair.phase == "run"):
        return "loads"
    if pair.status == "broken":
        return pair.error
    return None


def agrees(v: Verdict, expected: str) -> bool:
    if expected == "loads":
        return v.loads
    return not v.loads and expected.lower() in (v.error or "").lower()


def compare(matrix: Any, fps: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """Each matrix pair with a reported import outcome that the static verdict covers: report against verdict."""
    rows = []
    for pair in matrix.pairs:
        expected = expected_from_report(pair)
        floor = min(s.version.replace(".*", ".0") for s in pair.tensorflow)
        v = predict(floor, str(pair.metal), fps)
        if expected is None or v is None:
            continue
        rows.append({"tensorflow": str(pair.tensorflow), "metal": str(pair.metal), "reported": expected,
                     "predicted": v.short(), "agrees": "yes" if agrees(v, expected) else "no"})
    return rows


def report(matrix: Any, tensorflow: str | None = None, metal: str | None = None) -> list[str] | None:
    """The lines `invoke abi` prints: one pair explained, or the grid with its agreement with user reports.
    None when no fingerprint covers the request."""
    def same_line(a: str, b: str) -> bool:
        return Version(a).release[:2] == Version(b).release[:2]

    verdicts = [v for v in grid() if (not tensorflow or same_line(v.tensorflow, tensorflow))
                and (not metal or Version(v.metal) == Version(metal))]
    if not verdicts:
        return None
    if tensorflow and metal:
        v = verdicts[0]
        lines = ["TensorFlow %s + tensorflow-metal %s (macOS arm64, static check of the wheels): %s" % (
            v.tensorflow, v.metal, v.error or "loads")] + ["  " + ln for ln in v.explain()]
        pair = matrix.pair(v.tensorflow, v.metal)
        if pair:
            lines.append("reported: %s%s (%s)" % (pair.status, " (%s): %s" % (pair.phase or "import", pair.error)
                                                 if pair.error else "", pair.source))
            expected = expected_from_report(pair)
            if expected is not None:
                lines.append("static verdict and report: %s" % ("agree" if agrees(v, expected) else "DISAGREE"))
        return lines + ["Loading is not running: a pair that loads can still fail later."]
    metals = sorted({v.metal for v in verdicts}, key=Version)
    lines = ["Static verdicts (L: loads, S: symbol not found, F: flat-namespace symbol not found, N: library not "
             "loaded)", "  %-11s %s" % ("tensorflow", " ".join("%-6s" % x for x in metals))]
    codes = {"loads": "L", "symbol": "S", "library": "N"}
    for tf_version in sorted({v.tensorflow for v in verdicts}, key=Version):
        row = {v.metal: ("F" if v.error and "flat namespace" in v.error else codes[v.kind])
               for v in verdicts if v.tensorflow == tf_version}
        lines.append("  %-11s %s" % (tf_version, " ".join("%-6s" % row.get(x, "-") for x in metals)))
    rows = compare(matrix)
    lines.append("\nAgainst user reports in envs/matrix.json: %d agree, %d disagree" % (
        sum(r["agrees"] == "yes" for r in rows), sum(r["agrees"] == "no" for r in rows)))
    lines += ["  DISAGREE %s + %s: reported %s, predicted %s" % (r["tensorflow"], r["metal"], r["reported"],
                                                                r["predicted"]) for r in rows if r["agrees"] == "no"]
    return lines
