"""Launch the TensorFlow child (``tf_child``) and collect its JSON, whatever happens to it."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from checks import process
from checks.facts import TensorFlowFacts
from checks.paths import ROOT


def collect(budget_s: float, gpu: bool, timeout_s: float, memory_bytes: int | None = None,
            soft_placement: bool = False, size: int | None = None, python: str = sys.executable,
            trace_dir: str | None = None) -> TensorFlowFacts:
    """Run the child in a fresh interpreter with faulthandler on; return its facts and its process."""
    fd, out = tempfile.mkstemp(prefix="tf-probe-", suffix=".json")
    os.close(fd)
    config = {"out": out, "budget_s": budget_s, "gpu": gpu, "soft_placement": soft_placement,
              "memory_bytes": memory_bytes, "size": size, "trace_dir": trace_dir}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYTHONFAULTHANDLER"] = "1"
    print("Running the TensorFlow probe (import, devices, training, matmul; budget %g s, timeout %g s) ..."
          % (budget_s, timeout_s), file=sys.stderr, flush=True)
    try:
        proc = process.run([python, "-X", "faulthandler", "-m", "checks.probes.tf_child", json.dumps(config)],
                          timeout=timeout_s, env=env)
        try:
            with open(out, encoding="utf-8") as fh:
                facts: TensorFlowFacts = json.load(fh)
        except (OSError, ValueError):
            facts = {"stage": "start"}
    finally:
        for path in (out, out + ".tmp"):
            if os.path.exists(path):
                os.unlink(path)
    facts["process"] = proc.to_json()
    facts["timeout_s"] = timeout_s  # the time limit it ran under (--timeout): a rule advises a larger one
    return facts
