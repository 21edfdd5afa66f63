"""Timing and statistics, without TensorFlow."""

from __future__ import annotations

import math
import time

import pytest

from checks import timing


def test_median_and_cv():
    t = timing.Timing([1.0, 2.0, 3.0, 100.0])
    assert t.median == 2.5
    assert t.cv == pytest.approx(1.86, rel=0.01)
    assert timing.Timing([0.5]).cv == 0.0


def test_measure_warms_up_and_respects_min_reps_and_budget():
    calls = []
    t = timing.measure(lambda: calls.append(time.perf_counter()), budget_s=0.0, min_reps=5, warmup=2)
    assert len(t.samples) == 5 and len(calls) == 7
    t = timing.measure(lambda: time.sleep(0.01), budget_s=0.05, min_reps=1, max_reps=100, warmup=0)
    assert 4 <= len(t.samples) <= 7


def test_pick_size_scales_with_cube_root_and_memory():
    # 1 GFLOP/s-class device: n0=512 took 2*512^3/1e9 s; a 1 s rep wants n ~ (1e9/2)^(1/3) ~ 793 -> 768
    assert timing.pick_size(2 * 512**3 / 1e9, 512, 1.0, 64 * 2**30) == 768
    big = timing.pick_size(1e-6, 512, 10.0, 64 * 2**30)
    assert big == timing.MAX_N
    # 3 matrices of n^2 float32 must fit in a quarter of memory: 48 MiB -> n <= 1024
    assert timing.pick_size(1e-6, 512, 10.0, 48 * 2**20) == 1024
    assert timing.pick_size(10.0, 512, 0.001, 64 * 2**30) == timing.MIN_N


def test_fp32_tolerance_separates_fp32_from_tf32():
    tol = timing.fp32_tolerance(2048)
    assert tol == pytest.approx(math.sqrt(2048) * 2**-24)
    # Errors measured on an H200 with PyTorch at n = 4096 (docs/gpu_timing_h200.txt): fp32 passes, TF32 fails,
    # each with a margin.
    assert 1.52e-07 * 10 < timing.fp32_tolerance(4096) < 1.86e-05 / 3
