"""Do the team's packages load beside TensorFlow? Each import order in its own child process.

The project's requirements (the setup marker's ``project`` entry, written by ``invoke setup --requirements``) name
distributions; their top-level modules are imported with TensorFlow in two children (``checks.probes.import_child``):
TensorFlow first, then the modules; the modules first, then TensorFlow. Each child runs with faulthandler in its
own process group and is killed with its children at the timeout (``checks.process.run``), so an abort or a hang
is a fact. A child that stopped names the module it was importing; when the modules-first child stops in
TensorFlow's own import, each module is tried alone before TensorFlow to name the one that does it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from checks import process
from checks.paths import ROOT

IMPORT_TIMEOUT_S = 120.0  # one child: TensorFlow's import and the modules' (a cold import of TensorFlow: ~10 s)
MAX_ALONE = 12  # modules tried one by one when the modules-first child stopped in TensorFlow's import
NOT_MODULES = {"test", "tests", "setup", "docs", "doc", "examples", "benchmarks", "scripts"}


def requirement_names(files: Sequence[str]) -> tuple[list[str], list[str]]:
    """The distribution names the project's requirement files ask for (plain lines; options left out), and the
    files that could not be read."""
    from packaging.requirements import InvalidRequirement, Requirement

    names: list[str] = []
    unreadable = []
    for f in files:
        try:
            text = Path(f).read_text(encoding="utf-8")
        except OSError:
            unreadable.append(str(f))
            continue
        for raw in text.splitlines():
            line = raw.split(" #")[0].strip()
            if not line or line.startswith(("#", "-")):
                continue
            try:
                name = Requirement(line).name
            except InvalidRequirement:
                continue
            if name not in names:
                names.append(name)
    return names, unreadable


def top_level_modules(dist: metadata.Distribution) -> list[str]:
    """A distribution's importable top-level modules: ``top_level.txt`` when it has one, else its files' first
    path parts (packages and modules; dist-info, scripts and private names left out)."""
    listed = (dist.read_text("top_level.txt") or "").split()
    if not listed:
        for f in dist.files or []:
            parts = Path(str(f)).parts
            if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data")):
                continue
            head = parts[0]
            if len(parts) == 1:
                if not head.endswith((".py", ".so", ".pyd")):
                    continue
                head = head.split(".")[0]
            listed.append(head)
    out = []
    for name in listed:
        name = name.replace("/", ".").strip()
        if name.isidentifier() and not name.startswith("_") and name not in NOT_MODULES and name not in out:
            out.append(name)
    return sorted(out)


def project_modules(marker: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """{distribution: {"version", "modules"}} for the project requirements the marker records; None without a
    project. Requirements that are not installed are left to environment.lock."""
    project = (marker or {}).get("project") or {}
    files = project.get("requirements") or []
    if not files:
        return None
    names, unreadable = requirement_names(files)
    dists: dict[str, Any] = {}
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        modules = top_level_modules(dist)
        if modules:
            dists[name] = {"version": dist.version, "modules": modules}
    return {"requirements": [str(f) for f in files], "unreadable": unreadable, "distributions": dists}


def _child(python: str, order: str, modules: Sequence[str], timeout_s: float) -> dict[str, Any]:
    fd, out = tempfile.mkstemp(prefix="tf-imports-", suffix=".json")
    os.close(fd)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONFAULTHANDLER"] = "1"
    try:
        proc = process.run([python, "-X", "faulthandler", "-m", "checks.probes.import_child",
                            json.dumps({"out": out, "order": order, "modules": list(modules)})],
                           timeout=timeout_s, env=env)
        try:
            with open(out, encoding="utf-8") as fh:
                state = json.load(fh)
        except (OSError, ValueError):
            state = {"order": order, "imported": [], "errors": {}, "current": "(the child did not start)"}
    finally:
        for path in (out, out + ".tmp"):
            if os.path.exists(path):
                os.unlink(path)
    done = proc.returncode == 0 and state.get("current") is None
    proc_json = proc.to_json()
    proc_json["stderr"] = (proc_json.get("stderr") or "")[-4000:]
    return {"modules": list(modules), "ok": done, "stopped_at": None if done else state.get("current"),
            "imported": state.get("imported") or [], "errors": state.get("errors") or {}, "process": proc_json}


def collect(python: str, found: Mapping[str, Any], timeout_s: float = IMPORT_TIMEOUT_S) -> dict[str, Any]:
    """Run both orders; when the modules-first order stopped in TensorFlow's import, each module alone."""
    owner = {m: d for d, info in found["distributions"].items() for m in info["modules"]}
    modules = sorted(owner)
    facts: dict[str, Any] = {**found, "timeout_s": timeout_s, "orders": {}, "alone": []}
    if not modules:
        return facts
    print("Importing the project's %d module(s) beside TensorFlow, both orders (timeout %.0f s each) ..."
          % (len(modules), timeout_s), file=sys.stderr, flush=True)
    for order in ("after", "before"):
        facts["orders"][order] = _child(python, order, modules, timeout_s)
    before = facts["orders"]["before"]
    if not before["ok"] and before["stopped_at"] == "tensorflow" and len(modules) > 1:
        for m in modules[:MAX_ALONE]:
            alone = _child(python, "before", [m], timeout_s)
            facts["alone"].append(alone)
            if not alone["ok"]:
                break  # one named is enough to act on; the fix is re-run after it
    return facts
