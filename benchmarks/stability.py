"""Stability: the matmul probe run 20 times; the CV of its median GFLOP/s across runs (target < 5%).

Run: .tools/bin/python benchmarks/stability.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys

from common import PYTHON, cv, machine

from checks.probes import tensorflow


def main(runs: int) -> None:
    print("machine:", machine())
    figures, sizes, flagged = [], set(), []
    for i in range(runs):
        facts = tensorflow.collect(budget_s=3.0, gpu=False, timeout_s=300, python=PYTHON)
        m = facts["matmul"]["cpu"]
        figures.append(m["gflops"])
        if m["cv"] > 0.10:  # the matmul checks warn on these (timing disturbed)
            flagged.append(i)
        sizes.add(facts["matmul"]["n"])
        print("run %2d: n=%d %.1f GFLOP/s (within-run CV %.1f%%, %d reps)" % (
            i + 1, facts["matmul"]["n"], m["gflops"], 100 * m["cv"], m["reps"]), flush=True)
    print("across %d runs: median %.1f GFLOP/s, min %.1f, max %.1f, CV %.2f%% (target < 5%%), sizes %s" % (
        runs, statistics.median(figures), min(figures), max(figures), 100 * cv(figures), sorted(sizes)))
    kept = [f for i, f in enumerate(figures) if i not in flagged]
    print("runs the probe flagged as disturbed (within-run CV > 10%%, verify warns): %d; without them: CV %.2f%%"
          % (len(flagged), 100 * cv(kept)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
