"""The package index read directly (PEP 691 JSON), for the scripts that fetch wheels for another platform.

`.tools/` has no pip (the bootstrap makes it without), and uv has no `pip download`, so the index's own JSON
listing gives each file's URL and sha256; the wheel for a platform is chosen with packaging's tags, downloaded
with urllib and kept only when its sha256 matches the listing.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from packaging.tags import Tag, cpython_tags, mac_platforms
from packaging.utils import parse_wheel_filename

from checks.errors import StepFailed

INDEX = "https://pypi.org/simple/"
ACCEPT = "application/vnd.pypi.simple.v1+json"


def project(name: str, fix: str, index: str = INDEX, timeout: float = 60) -> dict[str, Any]:
    """The index's JSON page for ``name``: ``files`` (filename, url, hashes, requires-python) and ``versions``."""
    request = urllib.request.Request(index + name + "/", headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            page = json.load(response)
        if not isinstance(page.get("files"), list):
            raise ValueError("no file list in the answer")
    except (OSError, ValueError, KeyError) as exc:  # URLError and HTTPError are OSErrors
        raise StepFailed("cannot read the package index page %s%s/: %s" % (index, name, exc), fix=fix) from None
    return page


def platform_tags(platform: str, python: str) -> list[Tag]:
    """The tags a CPython ``python`` (X.Y) on ``platform`` (macosx_12_0_arm64) accepts, best first."""
    if not platform.startswith("macosx_"):
        raise ValueError("only macOS platforms are supported: %s" % platform)
    major, minor, arch = platform[len("macosx_"):].split("_", 2)
    version = tuple(int(p) for p in python.split("."))
    return list(cpython_tags(version, platforms=list(mac_platforms((int(major), int(minor)), arch))))


def best_wheel(files: list[dict[str, Any]], version: str, tags: list[Tag]) -> dict[str, Any] | None:
    """The file of release ``version`` whose wheel tags rank best in ``tags``; None when none fits."""
    rank = {tag: i for i, tag in enumerate(tags)}
    best: tuple[int, dict[str, Any]] | None = None
    for f in files:
        if not f["filename"].endswith(".whl") or f.get("yanked"):
            continue
        _, wheel_version, _, wheel_tags = parse_wheel_filename(f["filename"])
        score = min((rank[t] for t in wheel_tags if t in rank), default=None)
        if str(wheel_version) == version and score is not None and (best is None or score < best[0]):
            best = (score, f)
    return best[1] if best else None


def download(f: dict[str, Any], directory: Path, fix: str, timeout: float = 1800) -> Path:
    """Fetch one listed file into ``directory``, checked against its listed sha256 (written under a temporary
    name and renamed, so the directory never holds a partial or unchecked wheel)."""
    target = directory / f["filename"]
    part = directory / (f["filename"] + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(f["url"], timeout=timeout) as response, open(part, "wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise StepFailed("cannot download %s: %s" % (f["url"], exc), fix=fix) from None
    expected = f.get("hashes", {}).get("sha256")
    if expected != digest.hexdigest():
        part.unlink(missing_ok=True)
        raise StepFailed("%s does not match the sha256 the index lists (%s, got %s): not kept" % (
            f["filename"], expected, digest.hexdigest()), fix=fix)
    os.replace(part, target)
    return target
