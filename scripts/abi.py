"""`invoke abi --refresh`: fingerprint the macOS arm64 wheels of TensorFlow and tensorflow-metal with LIEF.

LIEF rather than macholib: the verdicts need export tries and dyld bind opcodes (with their library
ordinals and binding classes), which LIEF parses and macholib does not. Wheels are cached under
~/.cache/tfmetal-abi; symbols are demangled with binutils' c++filt when it is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

from packaging.utils import parse_wheel_filename

from checks import fixes, process
from checks.abi import ABI_DIR
from checks.errors import StepFailed, UsageError
from checks.paths import ROOT
from scripts import pypi

GRID_PATH = ROOT / "envs" / "abi-grid.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tfmetal-abi" / "wheels"
PYWRAP = "tensorflow/python/_pywrap_tensorflow_internal.so"
PLUGIN = "tensorflow-plugins/libmetal_plugin.dylib"
SYSTEM = ("/usr/lib/", "/System/")


def _lief() -> Any:
    try:
        import lief
    except ImportError:
        raise UsageError("`invoke abi --refresh` needs LIEF, one of the developer tools",
                         fix=fixes.make("dev")) from None

    lief.logging.disable()
    return lief


def human(size: int | None) -> str:
    """A download size as the user reads it: ``245.3 MB``; ``size unknown`` when the index gives none."""
    return "size unknown" if size is None else "%.1f MB" % (size / 1e6) if size < 1e9 else "%.2f GB" % (size / 1e9)


def cached(listed: dict[str, Any], cache: Path | None = None) -> Path | None:
    """The cached copy of a listed file, when its sha256 is the one the index lists (else None)."""
    target = (cache or CACHE) / listed["filename"]
    expected = listed.get("hashes", {}).get("sha256")
    return target if expected and target.is_file() and _sha256(target) == expected else None


def fetch(listed: dict[str, Any], say: Callable[[str], None], fix: str, cache: Path | None = None) -> Path:
    """A listed file from the cache (kept by its sha256), else downloaded after one line that gives its size."""
    cache = cache or CACHE
    hit = cached(listed, cache)
    if hit is not None:
        return hit
    cache.mkdir(parents=True, exist_ok=True)
    say("  downloading %s (%s) into %s ..." % (listed["filename"], human(listed.get("size")), cache))
    start = time.monotonic()
    path = pypi.download(listed, cache, fix)
    say("    %s in %.0f s" % (human(path.stat().st_size), time.monotonic() - start))
    return path


_PAGES: dict[tuple[str, str], dict[str, Any]] = {}


def page(name: str, index: str = pypi.INDEX) -> dict[str, Any]:
    """The index's JSON page for ``name``, read once per run."""
    if (name, index) not in _PAGES:
        _PAGES[(name, index)] = pypi.project(name, fixes.command("abi", why="again, once the package index answers"),
                                             index)
    return _PAGES[(name, index)]


def macos_pythons(name: str, version: str, grid: dict[str, Any], index: str = pypi.INDEX) -> list[str]:
    """X.Y of every CPython with a wheel of ``name==version`` for the grid's platform (macOS arm64)."""
    found = set()
    for f in page(name, index)["files"]:
        if not f["filename"].endswith(".whl") or f.get("yanked"):
            continue
        _, v, _, tags = parse_wheel_filename(f["filename"])
        if str(v) != version:
            continue
        for tag in tags:
            mac_arm = tag.platform.startswith("macosx_") and tag.platform.endswith("_arm64")
            if mac_arm and tag.interpreter.startswith("cp"):
                found.add("%s.%s" % (tag.interpreter[2], tag.interpreter[3:]))
    return sorted(found, key=lambda x: tuple(map(int, x.split("."))))


def listed_wheel(spec: str, grid: dict[str, Any], python: str | None = None,
                 index: str = pypi.INDEX) -> dict[str, Any]:
    """The index's file for ``name==version`` on the grid's platform and Python (or ``python``)."""
    name, version = spec.split("==")
    python = python or grid["python"]
    listed = pypi.best_wheel(page(name, index)["files"], version,
                             pypi.platform_tags(grid["platform"], python))
    if listed is None:
        raise StepFailed("the package index lists no %s wheel for CPython %s on %s" % (spec, python, grid["platform"]),
                         fix=fixes.command("abi", "--refresh", why="after correcting envs/abi-grid.json"))
    return listed


def download(spec: str, grid: dict[str, Any], say: Callable[[str], None], python: str | None = None) -> Path:
    """The wheel for ``name==version``: the cached copy whose sha256 the index lists, else downloaded."""
    return fetch(listed_wheel(spec, grid, python), say, fixes.command("abi", "--refresh",
                                                                    why="again, once the package index answers"))


def real_tensorflow(entry: dict[str, str], grid: dict[str, Any], say: Callable[[str], None]) -> tuple[Path, str | None]:
    """The wheel that holds TensorFlow's binaries: 2.13-2.15 `tensorflow` wheels are shims for tensorflow-macos."""
    python = entry.get("python")
    wheel = download("%s==%s" % (entry.get("dist", "tensorflow"), entry["version"]), grid, say, python)
    with zipfile.ZipFile(wheel) as zf:
        if PYWRAP in zf.namelist():
            return wheel, None
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [ln for ln in zf.read(meta).decode().splitlines() if ln.startswith("Requires-Dist:")]
    target = next(ln for ln in requires if "tensorflow-macos" in ln and "arm64" in ln)
    pinned = target.split("==")[1].split(";")[0].strip(" )")
    return download("tensorflow-macos==%s" % pinned, grid, say, python), "%s is a shim for tensorflow-macos %s" % (
        wheel.name, pinned)


def _binary(lief, path: Path):
    parsed = lief.MachO.parse(str(path))
    arm = parsed.take(lief.MachO.Header.CPU_TYPE.ARM64)
    if arm is None:
        raise ValueError("%s has no arm64 slice" % path)
    return arm


def _image(lief, binary, path: str, symbols: set[str] | None) -> dict[str, Any]:
    T = lief.MachO.LoadCommand.TYPE
    kinds = (T.LOAD_DYLIB, T.LOAD_WEAK_DYLIB, T.REEXPORT_DYLIB, T.LAZY_LOAD_DYLIB, T.LOAD_UPWARD_DYLIB)
    loads = [c.name for c in binary.commands if c.command in kinds]
    trie = binary.dyld_exports_trie.exports if binary.has_dyld_exports_trie else (
        binary.dyld_info.exports if binary.has_dyld_info else [])
    exports = {e.symbol.name for e in trie if e.has_symbol}
    return {
        "path": path,
        "install_name": next((c.name for c in binary.commands if c.command == T.ID_DYLIB), None),
        "loads": [n for n in loads if not n.startswith(SYSTEM)],
        "reexports": [c.name for c in binary.commands if c.command == T.REEXPORT_DYLIB],
        "rpaths": [r.path for r in binary.rpaths],
        "exports": sorted(exports & symbols) if symbols is not None else sorted(exports),
    }


def _resolve(load: str, loader: str, rpaths: list[str], members: set[str]) -> str | None:
    """The wheel member a load command names, through @rpath / @loader_path."""
    here = posixpath.dirname(loader)
    if load.startswith("@loader_path/"):
        cands = [posixpath.join(here, load[len("@loader_path/"):])]
    elif load.startswith("@rpath/"):
        cands = [posixpath.join(r.replace("@loader_path", here), load[len("@rpath/"):]) for r in rpaths]
    else:
        cands = [load]
    return next((p for p in map(posixpath.normpath, cands) if p in members), None)


def demangle(names: list[str]) -> dict[str, str]:
    """Mach-O C++ names (leading underscore) to readable ones, with c++filt; {} when it is missing."""
    tool = shutil.which("c++filt")
    cpp = [n for n in names if n.startswith("__Z")]
    if not tool or not cpp:
        return {}
    done = process.run([tool], timeout=120, input="\n".join(n[1:] for n in cpp))
    return dict(zip(cpp, done.stdout.splitlines())) if done.ok else {}


def plugin_fingerprint(lief, wheel: Path, version: str) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        member = next(n for n in zf.namelist() if n.endswith("libmetal_plugin.dylib"))
        target = Path(tmp) / "libmetal_plugin.dylib"
        target.write_bytes(zf.read(member))
        binary = _binary(lief, target)
        image = _image(lief, binary, PLUGIN, None)
        binds = []
        for b in binary.bindings:
            ordinal = b.library_ordinal
            if not b.has_symbol or ordinal in (0, -1):  # itself, the main executable
                continue
            library = "flat" if ordinal == -2 else (b.library.name if b.has_library else None)
            if library is None or library.startswith(SYSTEM):
                continue
            cls = str(b.binding_class).rsplit(".", 1)[-1].lower()
            binds.append({"symbol": b.symbol.name, "library": library, "class": "lazy" if cls == "lazy" else "standard",
                          "weak": bool(b.weak_import)})
    unique = {(b["symbol"], b["library"], b["class"]): b for b in binds}
    binds = sorted(unique.values(), key=lambda b: (b["class"] != "standard", b["library"], b["symbol"]))
    names = demangle([b["symbol"] for b in binds])
    for b in binds:
        if b["symbol"] in names:
            b["demangled"] = names[b["symbol"]]
    return {"kind": "tensorflow-metal", "version": version, "wheel": wheel.name, "sha256": _sha256(wheel),
            "install_name": image["install_name"], "loads": image["loads"], "rpaths": image["rpaths"], "binds": binds}


def tensorflow_fingerprint(lief, wheel: Path, version: str, via: str | None, symbols: set[str]) -> dict[str, Any]:
    """The pywrap module and its dependency closure (what `import tensorflow` has loaded before plugins)."""
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        members = set(zf.namelist())
        queue: list[str] = [PYWRAP]
        loaded: list[dict[str, Any]] = []
        unresolved: list[dict[str, str]] = []
        while queue:
            path = queue.pop(0)
            if any(i["path"] == path for i in loaded):
                continue
            target = Path(tmp) / "image"
            with zf.open(path) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            image = _image(lief, _binary(lief, target), path, symbols)
            image["flat_visible"] = path != PYWRAP  # Python loads extension modules RTLD_LOCAL
            loaded.append(image)
            for load in image["loads"]:
                member = _resolve(load, path, image["rpaths"], members)
                if member:
                    queue.append(member)
                else:
                    unresolved.append({"image": path, "load": load})
    files = sorted(n for n in members if n.endswith((".so", ".dylib")))
    return {"kind": "tensorflow", "version": version, "wheel": wheel.name, "sha256": _sha256(wheel), "via": via,
            "loaded": [{k: v for k, v in i.items() if k != "rpaths"} for i in loaded],
            "unresolved": unresolved, "files": files}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write(fp: dict[str, Any], out_dir: Path) -> str:
    path = out_dir / ("%s-%s.json" % (fp["kind"], fp["version"]))
    text = json.dumps(fp, indent=1, sort_keys=True) + "\n"
    old = path.read_text(encoding="utf-8") if path.exists() else None
    path.write_text(text, encoding="utf-8")
    return "new" if old is None else ("unchanged" if old == text else "changed")


def announce(grid: dict[str, Any], say: Callable[[str], None]) -> None:
    """Before any download: how many of the grid's wheels are not cached yet and how large they are."""
    listed = [listed_wheel("tensorflow-metal==%s" % v, grid) for v in grid["metal"]] + [
        listed_wheel("%s==%s" % (e.get("dist", "tensorflow"), e["version"]), grid, e.get("python"))
        for e in grid["tensorflow"]]
    missing = [f for f in listed if cached(f) is None]
    total = sum(f.get("size") or 0 for f in missing)
    say("%d wheels to read, %d of them cached in %s; to download: %d (%s)%s" % (
        len(listed), len(listed) - len(missing), CACHE, len(missing), human(total),
        "; the 2.13-2.15 tensorflow wheels are shims: their tensorflow-macos wheels follow, each announced"
        if any(e["version"].startswith(("2.13", "2.14", "2.15")) for e in grid["tensorflow"]) else ""))


def refresh(say: Callable[[str], None] = print, out_dir: Path = ABI_DIR) -> dict[str, str]:
    """Rebuild every fingerprint of the grid; return {file: new|changed|unchanged}."""
    lief = _lief()
    grid = json.loads(GRID_PATH.read_text(encoding="utf-8"))
    announce(grid, say)
    out_dir.mkdir(parents=True, exist_ok=True)
    changes, symbols = {}, set()
    for version in grid["metal"]:
        start = time.monotonic()
        fp = plugin_fingerprint(lief, download("tensorflow-metal==%s" % version, grid, say), version)
        symbols |= {b["symbol"] for b in fp["binds"]}
        changes["tensorflow-metal-%s" % version] = _write(fp, out_dir)
        say("  tensorflow-metal %-7s %d binds to TensorFlow (%.1f s)" % (version, len(fp["binds"]),
                                                                        time.monotonic() - start))
    for entry in grid["tensorflow"]:
        version = entry["version"]
        start = time.monotonic()
        wheel, via = real_tensorflow(entry, grid, say)
        fp = tensorflow_fingerprint(lief, wheel, version, via, symbols)
        fp["pythons"] = macos_pythons(entry.get("dist", "tensorflow"), version, grid)
        changes["tensorflow-%s" % version] = _write(fp, out_dir)
        say("  tensorflow %-8s %d images loaded before plugins (%.1f s)" % (version, len(fp["loaded"]),
                                                                          time.monotonic() - start))
    return changes
