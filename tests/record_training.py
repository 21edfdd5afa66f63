"""Record tests/fixtures/training-linux.json: the TensorFlow child's real facts from this Linux machine.

The child is asked for the GPU as on the metal profile (``gpu=True``): it trains on /CPU:0 and then on
/GPU:0 with soft placement on, which on this machine (no GPU) TensorFlow silently runs on the CPU. So
both sides, their losses, step times, census and the fused dense are real outputs of a real run; the
"gpu" side's census says CPU:0, as it really was. The rule tests alter one value at a time from here.
Run: .tools/bin/python -m tests.record_training [ENV]   (default ENV: .venv-tf)
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from checks.probes import tensorflow

HERE = Path(__file__).resolve().parent / "fixtures" / "training-linux.json"


def main(env: str) -> None:
    facts = tensorflow.collect(budget_s=1.0, gpu=True, timeout_s=300, size=256, python=str(Path(env) / "bin/python"))
    keep = {"source": "recorded by `python -m tests.record_training` on %s %s (no GPU: the GPU request ran on the "
                      "CPU under soft placement)" % (platform.system(), platform.machine()),
            "tensorflow": facts["tensorflow"], "training": facts["training"]}
    HERE.parent.mkdir(exist_ok=True)
    HERE.write_text(json.dumps(keep, indent=1) + "\n", encoding="utf-8")
    print(HERE)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".venv-tf")
