"""Which framework this environment's Keras runs on (decided once), and the probe child that judges it.

TensorFlow's own child is ``tf_child`` (launched by ``checks.probes.tensorflow``); Keras 3 on PyTorch or JAX gets
``backend_child``. Both run through ``run_child``: a fresh interpreter (the environment's), faulthandler on, its own
process group and time limit (``checks.process``), its JSON read back whatever happened to it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from checks import process
from checks.facts import BackendFacts, FrameworkFacts, PackagesFacts
from checks.matrix import TENSORFLOW, Matrix
from checks.paths import ROOT


def decide(pk: PackagesFacts, platform: str, m: Matrix) -> BackendFacts:
    """The environment's backend: the one setup's marker records, else the one its installed distributions name
    (``Matrix.backend_of``); with what the matrix says of it on ``platform``."""
    marker = (pk.get("environment") or {}).get("marker") or {}
    named = marker.get("backend")
    known = m.backend(str(named)) if named else None
    installed = [n for n, v in {**(pk.get("distributions") or {}), **(pk.get("versions") or {})}.items() if v]
    name = known.name if known else m.backend_of(installed)
    backend = m.backend(name)
    targets = [t for t in m.targets if t.backend == name and t.platform == platform]
    macos = next((str(t.macos) for t in targets if t.macos is not None and str(t.macos)), None)
    return {"name": name, "keras_backend": backend.keras_backend if backend else name,
            "decided_by": "setup's marker" if known else "installed distributions",
            "accelerator": (backend.accelerator.get(platform) if backend else None), "macos": macos,
            "why": backend.why if backend else ""}


def is_tensorflow(backend: BackendFacts) -> bool:
    return backend.get("name", TENSORFLOW) == TENSORFLOW


def run_child(module: str, config: Mapping[str, Any], timeout_s: float, python: str,
              prefix: str) -> dict[str, Any]:
    """Run ``python -m module CONFIG`` with ``CONFIG["out"]`` set to a file of ours; its JSON, or ``{"stage":
    "start"}`` when it wrote none, with its process and time limit added."""
    fd, out = tempfile.mkstemp(prefix=prefix, suffix=".json")
    os.close(fd)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONFAULTHANDLER"] = "1"
    try:
        proc = process.run([python, "-X", "faulthandler", "-m", module, json.dumps({**config, "out": out})],
                           timeout=timeout_s, env=env)
        try:
            with open(out, encoding="utf-8") as fh:
                facts: dict[str, Any] = json.load(fh)
        except (OSError, ValueError):
            facts = {"stage": "start"}
    finally:
        for path in (out, out + ".tmp"):
            if os.path.exists(path):
                os.unlink(path)
    facts["process"] = proc.to_json()
    facts["timeout_s"] = timeout_s  # the time limit it ran under (--timeout): a rule advises a larger one
    return facts


def collect(backend: BackendFacts, budget_s: float, timeout_s: float, memory_bytes: int | None = None,
            size: int | None = None, python: str = sys.executable) -> FrameworkFacts:
    """The backend child's facts: devices, training on the CPU and the accelerator, the matmul."""
    name = backend.get("name", "")
    print("Running the %s probe (import, devices, training, matmul; budget %g s, timeout %g s) ..."
          % (name, budget_s, timeout_s), file=sys.stderr, flush=True)
    config = {"backend": name, "keras_backend": backend.get("keras_backend") or name, "budget_s": budget_s,
              "memory_bytes": memory_bytes, "size": size}
    facts: FrameworkFacts = run_child("checks.probes.backend_child", config, timeout_s, python,  # type: ignore[assignment]
                                      "backend-probe-")
    return facts
