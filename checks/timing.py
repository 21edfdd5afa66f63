"""Timing and statistics, free of any framework: a probe passes in what to run and how to sync.

Rules of the method (docs/facts/performance.md#timing): inputs exist before the clock starts, warm-up
runs first, every timed repetition ends with a host read (``run`` must return only after the
device finished), and the figure is the median with its coefficient of variation.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

MIN_N = 256
MAX_N = 8192


@dataclass(frozen=True)
class Timing:
    """Repeated timings of one operation."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cv(self) -> float:
        """Coefficient of variation (stdev / mean); 0 for fewer than two samples."""
        if len(self.samples) < 2:
            return 0.0
        mean = statistics.fmean(self.samples)
        return statistics.stdev(self.samples) / mean if mean else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"reps": len(self.samples), "median_s": self.median, "min_s": min(self.samples), "cv": self.cv,
                "samples_s": self.samples}


def measure(run: Callable[[], Any], budget_s: float, min_reps: int = 5, max_reps: int = 30,
            warmup: int = 2) -> Timing:
    """Warm up, then time ``run`` at least ``min_reps`` times, more while ``budget_s`` allows.

    The budget covers the warm-ups too, and a repetition is started only if it should end within
    the budget (judged by the last one), so a run takes about ``budget_s``, not one repetition more.
    """
    start = time.perf_counter()
    for _ in range(warmup):
        run()
    samples: list[float] = []
    while len(samples) < max_reps:
        if len(samples) >= min_reps and time.perf_counter() - start + samples[-1] > budget_s:
            break
        t0 = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t0)
    return Timing(samples)


def matmul_flops(n: int) -> float:
    """Floating-point operations of an n×n by n×n matmul (2n³)."""
    return 2.0 * n ** 3


def pick_size(seconds_at_n0: float, n0: int, target_rep_s: float, memory_bytes: int) -> int:
    """The square size whose matmul takes about ``target_rep_s``, bounded by memory.

    Time scales with n³; three float32 n×n matrices must fit in a quarter of ``memory_bytes``.
    The size is a multiple of 256 between ``MIN_N`` and ``MAX_N``.
    """
    rate = matmul_flops(n0) / max(seconds_at_n0, 1e-9)
    n = (target_rep_s * rate / 2.0) ** (1.0 / 3.0)
    n_mem = math.sqrt(max(memory_bytes, 0) / 4 / (3 * 4)) if memory_bytes else MAX_N
    n = min(n, n_mem, MAX_N)
    return max(MIN_N, int(n // 256) * 256)


def fp32_tolerance(n: int) -> float:
    """Allowed componentwise relative error of an fp32 matmul with inner size ``n``: sqrt(n) * 2^-24.

    Each entry's error against a float64 reference, divided by ``(|A||B|)_ij``, grows like
    ``sqrt(n) * u`` for random rounding (u = 2^-24, fp32's unit roundoff). Measured on an H200 at
    n = 4096 (docs/BENCHMARKS.md): fp32 1.5e-7 and TF32 1.9e-5 against this bound of 3.8e-6, so it
    sits between them with a margin of 25x below and 5x above.
    """
    return math.sqrt(n) * 2.0 ** -24
