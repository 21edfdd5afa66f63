"""Read the kernel C API for resource variables out of the TensorFlow macOS arm64 wheels (LIEF).

For each TensorFlow in envs/kernel-c-api.json: the functions ``tensorflow/c/kernels_experimental.h`` declares
(read from the header the wheel ships) and which binaries of the wheel export each of them (every ``.so`` and
``.dylib``, not only those ``import tensorflow`` loads). The verdicts are in checks/kernel_api.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

from checks import fixes
from checks.kernel_api import DATA_PATH, HEADER, newer_releases
from scripts import pypi
from scripts.abi import CACHE, _sha256, download

DECLARATION = re.compile(r"TF_CAPI_EXPORT\s+extern\s+[\w\s\*]+?\b(TF_\w+)\s*\(")


def declared(header_text: str) -> list[str]:
    """The function names a C API header declares with TF_CAPI_EXPORT, in header order."""
    return DECLARATION.findall(header_text)


def _exports(lief, path: Path) -> set[str]:
    """Names in the export trie of the arm64 slice (empty for a file LIEF does not read as Mach-O)."""
    config = lief.MachO.ParserConfig()  # export tries only (ParserConfig.quick skips them)
    config.parse_dyld_exports, config.parse_dyld_bindings, config.parse_dyld_rebases = True, False, False
    fat = lief.MachO.parse(str(path), config=config)
    if fat is None:
        return set()
    binary = fat.take(lief.MachO.Header.CPU_TYPE.ARM64)
    if binary is None:
        return set()
    trie = binary.dyld_exports_trie.exports if binary.has_dyld_exports_trie else (
        binary.dyld_info.exports if binary.has_dyld_info else [])
    return {e.symbol.name for e in trie if e.has_symbol}


def scan_wheel(wheel: Path, version: str, lief=None) -> dict[str, Any]:
    """One TensorFlow wheel: the header's names and, for each, the binaries that export it."""
    if lief is None:
        from scripts.abi import _lief

        lief = _lief()
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        members = zf.namelist()
        header_member = next(n for n in members if n.endswith("include/" + HEADER))
        header = zf.read(header_member)
        names = declared(header.decode("utf-8"))
        wanted = {"_" + n: n for n in names}
        exported: dict[str, list[str]] = {n: [] for n in names}
        binaries = sorted(n for n in members if n.endswith((".so", ".dylib")))
        for member in binaries:
            target = Path(tmp) / "image"
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            for symbol in _exports(lief, target) & set(wanted):
                exported[wanted[symbol]].append(member)
    return {"version": version, "wheel": wheel.name, "sha256": _sha256(wheel),
            "header": header_member, "header_sha256": hashlib.sha256(header).hexdigest(),
            "declared": names, "binaries_scanned": len(binaries), "exported": exported}


def published_versions() -> list[str]:
    """TensorFlow versions on the package index (its JSON page's ``versions``, PEP 700)."""
    fix = fixes.command("abi", "--refresh", why="again, once the package index answers")
    return [str(v) for v in pypi.project("tensorflow", fix).get("versions", [])]


def refresh(say: Callable[[str], None] = print, path: Path = DATA_PATH) -> str:
    """Rescan every TensorFlow listed in the data file; say which newer releases are not in it yet.
    Returns new|changed|unchanged for the file."""
    from scripts.abi import _lief

    lief = _lief()
    data = json.loads(path.read_text(encoding="utf-8"))
    grid = {"python": data["python"], "platform": data["platform"]}
    entries = []
    for entry in data["tensorflow"]:
        wheel = download("tensorflow==%s" % entry["version"], grid, say)
        fact = scan_wheel(wheel, entry["version"], lief)
        missing = [n for n, where in fact["exported"].items() if not where]
        say("  tensorflow %-8s %d of %d kernel C API functions exported" % (
            entry["version"], len(fact["declared"]) - len(missing), len(fact["declared"])))
        entries.append(fact)
    for version in newer_releases([e["version"] for e in entries], published_versions()):
        say("  tensorflow %s is on the index and not in %s: `%s` reads it" % (
            version, path.name, fixes.command("abi", "--tensorflow", version)))
    text = json.dumps(dict(data, tensorflow=entries), indent=1, sort_keys=True) + "\n"
    old = path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    return "unchanged" if old == text else "changed"


if __name__ == "__main__":  # scan wheels already in the cache: python -m scripts.kernel_api 2.21.0 ...
    for v in sys.argv[1:]:
        print(json.dumps(scan_wheel(next(CACHE.glob("tensorflow-%s-cp311-*.whl" % v)), v), indent=1))
