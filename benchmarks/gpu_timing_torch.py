"""The matmul method of checks/timing.py on a real asynchronous GPU (PyTorch, CUDA): no TensorFlow needed.

What it shows, on a GPU this project's machines lack:
  1. the no-sync trap: timing a launch without a host read gives absurd figures;
  2. stability: 20 probe-style runs (warm-up, host read per rep, median): CV of the GPU median;
  3. verdict flips: with the threshold set 20 % below / above the true speedup, how often the verdict flips;
  4. the fp32 tolerance of checks/timing.fp32_tolerance against fp32 and TF32 results.
Run on a CUDA machine: python benchmarks/gpu_timing_torch.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from checks import timing

N = 4096
BUDGET = 3.0


def main(runs: int) -> None:
    dev = torch.device("cuda")
    print("machine: %s, torch %s, CUDA %s, %d CPU threads" % (
        torch.cuda.get_device_name(0), torch.__version__, torch.version.cuda, torch.get_num_threads()))
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator().manual_seed(0)
    a = torch.rand(N, N, generator=g) * 2 - 1
    b = torch.rand(N, N, generator=g) * 2 - 1
    ag, bg = a.to(dev), b.to(dev)
    flops = timing.matmul_flops(N)

    # 1. the trap
    (ag @ bg).sum().item()
    t0 = time.perf_counter()
    ag @ bg
    unsynced = time.perf_counter() - t0
    torch.cuda.synchronize()
    synced = timing.measure(lambda: (ag @ bg).sum().item(), 1.0)
    print("no sync: %.4f ms -> %.0f GFLOP/s (wrong); synced median %.3f ms -> %.0f GFLOP/s, CV %.2f%%" % (
        1e3 * unsynced, flops / unsynced / 1e9, 1e3 * synced.median, flops / synced.median / 1e9, 100 * synced.cv))

    # 2. and 3. repeated probe-style runs
    gpu, cpu, speedups = [], [], []
    for i in range(runs):
        tg = timing.measure(lambda: (ag @ bg).sum().item(), BUDGET / 2)
        tc = timing.measure(lambda: (a @ b).sum().item(), BUDGET / 2)
        gpu.append(flops / tg.median / 1e9)
        cpu.append(flops / tc.median / 1e9)
        speedups.append(tc.median / tg.median)
        print("run %2d: GPU %.0f GFLOP/s (CV %.2f%%, %d reps), CPU %.0f GFLOP/s (CV %.2f%%, %d reps), speedup %.1fx"
              % (i + 1, gpu[-1], 100 * tg.cv, len(tg.samples), cpu[-1], 100 * tc.cv, len(tc.samples), speedups[-1]),
              flush=True)
    cv = statistics.stdev(gpu) / statistics.fmean(gpu)
    s = statistics.median(speedups)
    print("GPU median across %d runs: %.0f GFLOP/s, CV %.2f%% (target < 5%%)" % (runs, statistics.median(gpu),
                                                                               100 * cv))
    for label, threshold, expect in (("20% below", s / 1.2, True), ("20% above", s * 1.2, False)):
        verdicts = [x >= threshold for x in speedups]
        flips = sum(v != expect for v in verdicts)
        print("threshold %.1fx (%s the median speedup %.1fx): %d of %d runs flip the verdict" % (
            threshold, label, s, flips, runs))

    # 4. tolerance: fp32 passes, TF32 fails
    ref = (a[:64].double() @ b[:, :64].double())
    scale = a[:64].double().abs() @ b[:, :64].double().abs()
    tol = timing.fp32_tolerance(N)
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        c = (ag @ bg)[:64, :64].double().cpu()
        err = ((c - ref).abs() / scale).max().item()
        print("%s: componentwise error %.2e vs tolerance %.2e -> %s" % (
            "TF32" if tf32 else "fp32", err, tol, "fails" if err > tol else "passes"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
