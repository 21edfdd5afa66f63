"""verify's own cost: `invoke verify` wall time against a bare `import tensorflow`, side by side.

Target: verify's cost beyond one TensorFlow import and the budget stays at most 0.6 of an import (the
training probe included: it lives inside the budget). The runs alternate (import, verify, ...) so both
see the same machine; the overhead is also computed per run against the import time that verify's own
TensorFlow child measured. It also prints how the budget was split between the training probe and the
matmul. Run: .tools/bin/python benchmarks/verify_cost.py [REPS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, PYTHON, ROOT, machine

BUDGET = 3.0
TARGET = 0.6  # of one import


def wall(argv) -> float:
    start = time.monotonic()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.monotonic() - start


def main(reps: int) -> None:
    print("machine:", machine())
    imports, verifies, per_run, training, matmul = [], [], [], [], []
    out = Path(tempfile.mkdtemp()) / "out.json"
    for _ in range(reps):
        imports.append(wall([PYTHON, "-c", "import tensorflow"]))
        verifies.append(wall([sys.executable, "-m", "invoke", "verify", "--env", str(ENV), "--budget", str(BUDGET),
                              "--json", str(out)]))
        tf = json.loads(out.read_text())["facts"]["tensorflow"]
        per_run.append(verifies[-1] - tf["tensorflow"]["import_s"] - BUDGET)
        training.append(tf["training"]["spent_s"])
        matmul.append(tf["matmul"]["budget_s"])
    imp, ver = statistics.median(imports), statistics.median(verifies)
    print("bare `import tensorflow`: median %.2f s  %s" % (imp, ["%.2f" % x for x in imports]))
    print("invoke verify --budget %.0f: median %.2f s  %s" % (BUDGET, ver, ["%.2f" % x for x in verifies]))
    print("budget split: training probe median %.2f s %s, matmul share median %.2f s" % (
        statistics.median(training), ["%.2f" % x for x in training], statistics.median(matmul)))
    overhead = ver - imp - BUDGET
    print("overhead beyond import + budget (medians): %.2f s = %.2f of an import (target <= %.1f): %s" % (
        overhead, overhead / imp, TARGET, "MET" if overhead <= TARGET * imp else "NOT MET"))
    print("overhead per run, against verify's own import time: median %.2f s  %s" % (
        statistics.median(per_run), ["%.2f" % x for x in per_run]))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
