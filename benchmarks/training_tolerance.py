"""Evidence for the GPU-vs-CPU loss tolerance: how far correct fp32 training trajectories drift apart.

Trains the training probe's model (checks/probes/training.py: same seed, data, weights, steps) and compares
loss trajectories step by step, as relative differences, against the tolerance checks/rules/training.py
derives (``trajectory_tolerance``):
- fp32 against float64 (the exact trajectory, up to float64 rounding): how far one correct fp32 run drifts;
- fp32 with oneDNN on against oneDNN off (TF_ENABLE_ONEDNN_OPTS=0): two correct fp32 implementations with
  different kernels and summation orders, which is what a GPU against a CPU is;
- fp32 against a run with inputs rounded to bfloat16-like precision (8 bits of mantissa): a reduced-precision
  path, which must fail.
Run: .tools/bin/python benchmarks/training_tolerance.py
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from common import PYTHON, ROOT, machine

CHILD = r"""
import json, sys
import numpy as np, tensorflow as tf, keras
from checks.probes import training as t
mode = sys.argv[1]
if mode == "float64":
    keras.config.set_floatx("float64")
keras.utils.set_random_seed(t.SEED)
x, y = t.data(np)
keras.config.set_floatx("float32")
initial = t.model(keras).get_weights()
if mode == "float64":
    keras.config.set_floatx("float64")
    x = x.astype(np.float64)
if mode == "lowp":  # keep 8 mantissa bits of the inputs and initial weights, as a bf16 path would
    cut = lambda a: (a.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    x, initial = cut(x), [cut(w) for w in initial]
model = t.model(keras)
model.set_weights([w.astype(keras.config.floatx()) for w in initial])
model.compile(optimizer=keras.optimizers.Adam(t.LEARNING_RATE), loss="sparse_categorical_crossentropy")
print(json.dumps([float(model.train_on_batch(x, y)) for _ in range(t.STEPS)]))
"""


def trajectory(mode: str, onednn: str = "1") -> list[float]:
    env = {"TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([PYTHON, "-c", CHILD, mode], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from checks.rules.training import trajectory_tolerance

    print("machine:", machine())
    f32, f64 = trajectory("float32"), trajectory("float64")
    f32_plain, lowp = trajectory("float32", onednn="0"), trajectory("lowp")
    print("step  fp32 loss    |fp32-f64|/f64  |oneDNN on-off|/loss  |lowp-fp32|/loss  tolerance")
    worst = {"f64": 0.0, "onednn": 0.0, "lowp": math.inf}
    for i, (a, b, c, d) in enumerate(zip(f32, f64, f32_plain, lowp)):
        tol = trajectory_tolerance(i)
        r64, rdn, rlp = abs(a - b) / abs(b), abs(a - c) / abs(a), abs(d - a) / abs(a)
        worst = {"f64": max(worst["f64"], r64 / tol), "onednn": max(worst["onednn"], rdn / tol),
                 "lowp": min(worst["lowp"], rlp / tol)}
        print("%4d  %.6f  %.2e        %.2e              %.2e          %.2e" % (i + 1, a, r64, rdn, rlp, tol))
    print("largest share of the tolerance: fp32 vs float64 %.3f, oneDNN on vs off %.3f; "
          "smallest for reduced precision: %.1f (must be > 1)"
          % (worst["f64"], worst["onednn"], worst["lowp"]))


if __name__ == "__main__":
    main()
