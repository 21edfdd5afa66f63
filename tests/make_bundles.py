"""Write the macOS fixture bundles in tests/bundles/ from the recorded outputs in tests/machines.py.

Run: .tools/bin/python -m tests.make_bundles. Packages and TensorFlow facts of these machines were
never recorded, so those files are absent and replay skips the checks that need them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.machines import BUNDLES, CI_BUNDLES

HERE = Path(__file__).resolve().parent / "bundles"


def write(name: str, raw: dict, notes: str, root: Path = HERE, packages: dict | None = None,
          tensorflow: dict | None = None) -> Path:
    out = root / name
    if out.exists():
        shutil.rmtree(out)
    (out / "commands").mkdir(parents=True)
    meta = {"format": 1, "tool_version": "fixture", "notes": notes, "options": {},
            "sources": "docs/facts/machines.md (public sample ids in tests/machines.py)"}
    files = {"bundle.json": meta, "python.json": raw["python"], "memory.json": raw["memory"]}
    files.update({"commands/%s.json" % k: v for k, v in raw["commands"].items()})
    if packages is not None:
        files["packages.json"] = packages
    if tensorflow is not None:
        files["tensorflow.json"] = tensorflow
    for rel, data in files.items():
        (out / rel).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    for name, (raw, notes) in BUNDLES.items():
        print(write(name, raw, notes))
    for name, (raw, notes, packages, tensorflow) in CI_BUNDLES.items():
        print(write(name, raw, notes, packages=packages, tensorflow=tensorflow))
