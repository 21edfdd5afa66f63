"""Record every probe result to a bundle directory, and read one back (for replay on any OS).

A bundle is plain files a person can read and edit (docs/BUNDLES.md):
  bundle.json           format, when and how it was recorded, options, notes on sources
  python.json           the interpreter (platform.system/machine, version, mac_ver, ...)
  memory.json           total and available bytes (psutil)
  linux.json            /proc/cpuinfo flags and DMI product (Linux only)
  commands/NAME.json    one system command each: argv, returncode, stdout, stderr (macOS only)
  packages.json         installed versions, the Metal plugin, the setup marker, the audit facts
  tensorflow.json       the TensorFlow child's JSON, with its process (stderr, signal, timeout)
  framework.json        instead, where Keras runs on PyTorch or JAX: the backend child's JSON, with its process
A missing file means "not recorded": the checks that need it are skipped and say so.
``invoke report`` adds summary.md and results.json. A folder is a bundle of ours when its bundle.json has our
format, tool_version and recorded_at; verify writes into a folder only when it is new, empty, or holds such a
bundle and nothing else (``foreign_files``), and then replaces the bundle's files.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checks import __version__

FORMAT = 1
OWN_FILES = ("bundle.json", "python.json", "memory.json", "linux.json", "packages.json", "tensorflow.json",
             "framework.json", "summary.md", "results.json", "commands")


def is_bundle(directory: Path) -> bool:
    """True when ``directory`` holds a bundle.json written by ``write``."""
    try:
        meta = json.loads((directory / "bundle.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT and {"tool_version", "recorded_at"} <= set(meta)


def foreign_files(directory: Path) -> list[str]:
    """What in ``directory`` is not part of a bundle of ours: everything, when it holds no bundle."""
    names = sorted(p.name for p in directory.iterdir())
    if not names or not is_bundle(directory):
        return names
    commands = directory / "commands"
    extra = [n for n in names if n not in OWN_FILES]
    if commands.is_dir():
        extra += ["commands/" + p.name for p in sorted(commands.iterdir()) if p.suffix != ".json" or p.is_dir()]
    elif commands.exists():
        extra.append("commands")
    return extra


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def write(directory: str, facts: Mapping[str, Any], options: dict[str, Any]) -> Path:
    """Write the raw facts of a run to ``directory`` (created if needed)."""
    root = Path(directory)
    raw = facts["raw"]["system"]
    if root.is_dir() and is_bundle(root):  # replace our earlier bundle: no file of another machine's stays
        for stale in [root / "linux.json", root / "tensorflow.json", root / "framework.json",
                      *sorted((root / "commands").glob("*.json"))]:
            if stale.is_file():
                stale.unlink()
    _dump(root / "bundle.json", {"format": FORMAT, "tool_version": __version__, "options": options,
                                 "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                                     timespec="seconds"),
                                 "notes": "recorded by `python -m checks --record` on this machine"})
    _dump(root / "python.json", raw["python"])
    _dump(root / "memory.json", raw.get("memory") or {})
    if raw.get("linux") is not None:
        _dump(root / "linux.json", raw["linux"])
    for name, result in (raw.get("commands") or {}).items():
        _dump(root / "commands" / (name + ".json"), result)
    _dump(root / "packages.json", facts["packages"])
    for part in ("tensorflow", "framework"):  # the probe child's JSON: TensorFlow's, or a Keras 3 backend's
        if facts.get(part) is not None and not facts[part].get("not_recorded"):
            _dump(root / (part + ".json"), facts[part])
    return root


def _load(path: Path, default: Any = None) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError("bundle file %s is not valid JSON: %s" % (path, exc)) from None


def read(directory: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(raw system facts, packages, tensorflow) and the recorded options from a bundle."""
    root = Path(directory)
    meta = _load(root / "bundle.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError("%s is not a bundle (no bundle.json with format %d)" % (root, FORMAT))
    python = _load(root / "python.json")
    if not python:
        raise ValueError("bundle %s has no python.json" % root)
    commands = {p.stem: _load(p) for p in sorted((root / "commands").glob("*.json"))}
    raw = {"python": python, "memory": _load(root / "memory.json", {}), "linux": _load(root / "linux.json"),
           "commands": commands}
    recorded = {"raw": raw,
                "packages": _load(root / "packages.json"),
                "tensorflow": _load(root / "tensorflow.json", {"not_recorded": True}),
                "framework": _load(root / "framework.json")}
    return recorded, meta.get("options") or {}
