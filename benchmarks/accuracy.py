"""Accuracy: the probe's GFLOP/s against a long, careful measurement of the same matmul (target: within 10%).

The careful one: same size, 5 warm-ups, 60 timed repetitions each ending in a host read, median.
Run: .tools/bin/python benchmarks/accuracy.py
"""

from __future__ import annotations

import json
import subprocess

from common import PYTHON, ROOT, machine

from checks.probes import tensorflow

CAREFUL = """
import json, sys, time, numpy as np, tensorflow as tf
sys.path.insert(0, %r)
from checks import timing
n = %d
rng = np.random.default_rng(1)
with tf.device('/CPU:0'):
    a = tf.constant(rng.uniform(-1, 1, (n, n)).astype(np.float32))
    b = tf.constant(rng.uniform(-1, 1, (n, n)).astype(np.float32))
    t = timing.measure(lambda: tf.reduce_sum(tf.matmul(a, b)).numpy(), budget_s=0, min_reps=60, max_reps=60, warmup=5)
print(json.dumps({"gflops": timing.matmul_flops(n) / t.median / 1e9, "cv": t.cv}))
"""


def main() -> None:
    print("machine:", machine())
    probe = tensorflow.collect(budget_s=3.0, gpu=False, timeout_s=300, python=PYTHON)
    n, quick = probe["matmul"]["n"], probe["matmul"]["cpu"]["gflops"]
    out = subprocess.run([PYTHON, "-c", CAREFUL % (str(ROOT), n)], capture_output=True, text=True, check=True)
    careful = json.loads(out.stdout.strip().splitlines()[-1])
    diff = (quick - careful["gflops"]) / careful["gflops"]
    print("probe (3 s budget): n=%d %.1f GFLOP/s" % (n, quick))
    print("careful (60 reps):  n=%d %.1f GFLOP/s (CV %.1f%%)" % (n, careful["gflops"], 100 * careful["cv"]))
    print("difference: %+.1f%% (target within 10%%): %s" % (100 * diff, "MET" if abs(diff) <= 0.10 else "NOT MET"))


if __name__ == "__main__":
    main()
