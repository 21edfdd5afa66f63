"""Launch the TensorFlow child (``tf_child``) and collect its JSON, whatever happens to it (``framework.run_child``)."""

from __future__ import annotations

import sys

from checks.facts import TensorFlowFacts
from checks.probes import framework


def collect(budget_s: float, gpu: bool, timeout_s: float, memory_bytes: int | None = None,
            soft_placement: bool = False, size: int | None = None, python: str = sys.executable,
            trace_dir: str | None = None) -> TensorFlowFacts:
    """Run the child in a fresh interpreter with faulthandler on; return its facts and its process."""
    config = {"budget_s": budget_s, "gpu": gpu, "soft_placement": soft_placement,
              "memory_bytes": memory_bytes, "size": size, "trace_dir": trace_dir}
    print("Running the TensorFlow probe (import, devices, training, matmul; budget %g s, timeout %g s) ..."
          % (budget_s, timeout_s), file=sys.stderr, flush=True)
    facts: TensorFlowFacts = framework.run_child("checks.probes.tf_child", config, timeout_s,  # type: ignore[assignment]
                                                 python, "tf-probe-")
    return facts
