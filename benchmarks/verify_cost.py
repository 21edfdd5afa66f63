"""verify's own cost: `invoke verify` wall time against a bare `import tensorflow`, side by side.

Target: one TensorFlow import + the matmul budget + at most 1 s. Run: .tools/bin/python benchmarks/verify_cost.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from common import ENV, PYTHON, ROOT, machine

BUDGET = 3.0
REPS = 3


def wall(argv) -> float:
    start = time.monotonic()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.monotonic() - start


def main() -> None:
    print("machine:", machine())
    imports = [wall([PYTHON, "-c", "import tensorflow"]) for _ in range(REPS)]
    verifies = [wall([sys.executable, "-m", "invoke", "verify", "--env", str(ENV), "--budget", str(BUDGET)])
                for _ in range(REPS)]
    imp, ver = statistics.median(imports), statistics.median(verifies)
    overhead = ver - imp - BUDGET
    print("bare `import tensorflow`: median %.2f s  %s" % (imp, ["%.2f" % x for x in imports]))
    print("invoke verify --budget %.0f: median %.2f s  %s" % (BUDGET, ver, ["%.2f" % x for x in verifies]))
    print("overhead beyond import + budget: %.2f s (target <= 1.0 s): %s" % (overhead, "MET" if overhead <= 1 else
                                                                               "NOT MET"))


if __name__ == "__main__":
    main()
