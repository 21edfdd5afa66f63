"""Verify's own rules over the Keras 3 backend child's facts recorded on a real GPU (benchmarks/gpu_backends.py).

The machine and package facts are this machine's real recordings of the same backend (tests/bundles/linux-torch-cpu,
linux-jax-cpu: environments built by `invoke setup --backend`); the child's facts (framework.json) are replaced by
the JSON the child wrote on the GPU machine, unchanged. Then the same registry, gates and rules as `invoke verify`
judge them, with the default thresholds.

Usage: .tools/bin/python -m benchmarks.gpu_backend_rules docs/gpu/h100-keras-torch.json [...]
"""

from __future__ import annotations

import json
import sys

from benchmarks.common import ROOT
from checks import bundle, knowledge
from checks.cli import replayed
from checks.evaluate import evaluate
from checks.model import Options

FAMILIES = ("devices", "matmul", "training")


def judge(path: str) -> int:
    k = knowledge.load()
    child = json.loads(open(path, encoding="utf-8").read())
    recorded, _ = bundle.read(str(ROOT / "tests" / "bundles" / ("linux-%s-cpu" % child["backend"])))
    facts = replayed(recorded, "auto", k)
    facts["framework"] = child
    outcomes = evaluate(facts, Options(profile=facts["profile"]), k)
    about = child.get("gathered_on") or {}
    print("%s (%s %s, %s; Python %s)" % (path, child["backend"], child["framework"]["version"],
                                         (about.get("machine") or {}).get("gpu"),
                                         (about.get("machine") or {}).get("python")))
    for o in outcomes:
        if o.check.family in FAMILIES:
            print("  %-20s %-4s %s" % (o.check.id, o.result.status.value, o.result.summary[:160]))
    return 0


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        judge(arg)
