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
    assert tol == pytest.approx(4 * math.sqrt(2048) * 2**-24)
    assert 1e-6 < tol < 3e-4  # fp32 errors (~1e-7) pass; TF32-sized errors (3e-4, DESIGN.md) fail


def test_the_budget_covers_warmups_and_is_not_overrun_by_a_repetition():
    start = time.perf_counter()
    t = timing.measure(lambda: time.sleep(0.02), budget_s=0.1, min_reps=1, max_reps=100, warmup=3)
    elapsed = time.perf_counter() - start
    assert 1 <= len(t.samples) <= 2  # 3 warm-ups (0.06 s) leave room for about two 0.02 s reps
    assert elapsed < 0.1 + 0.015
    t = timing.measure(lambda: time.sleep(0.02), budget_s=0.0, min_reps=3, warmup=1)
    assert len(t.samples) == 3  # min_reps wins over an exhausted budget
