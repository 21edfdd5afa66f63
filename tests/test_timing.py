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


class Clock:
    """A clock that moves only when the timed operation runs: ``step`` seconds per call (binary fractions, so
    the sums are exact and the budget's boundary is hit exactly)."""

    def __init__(self, step: float) -> None:
        self.now, self.step, self.calls = 0.0, step, 0

    def perf_counter(self) -> float:
        return self.now

    def run(self) -> None:
        self.calls += 1
        self.now += self.step


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock(0.125)
    monkeypatch.setattr(timing, "time", c)
    return c


def test_measure_warms_up_and_respects_min_reps_even_without_budget(clock):
    t = timing.measure(clock.run, budget_s=0.0, min_reps=5, warmup=2)
    assert len(t.samples) == 5 and clock.calls == 7
    assert t.samples == [0.125] * 5  # the warm-ups are not samples


def test_measure_starts_a_repetition_only_if_it_ends_within_the_budget(clock):
    # 0.125 s per call, budget 0.5 s: after 3 samples the 4th would end at 0.5 s exactly (within), a 5th at 0.625 s
    t = timing.measure(clock.run, budget_s=0.5, min_reps=1, max_reps=100, warmup=0)
    assert len(t.samples) == 4 and clock.now == 0.5


def test_the_budget_covers_the_warm_ups(clock):
    t = timing.measure(clock.run, budget_s=0.5, min_reps=1, max_reps=100, warmup=2)
    assert len(t.samples) == 2 and clock.calls == 4 and clock.now == 0.5


def test_measure_stops_at_max_reps(clock):
    t = timing.measure(clock.run, budget_s=100.0, min_reps=1, max_reps=6, warmup=0)
    assert len(t.samples) == 6


def test_measure_times_each_repetition_with_the_real_clock():
    t = timing.measure(lambda: time.sleep(0.01), budget_s=0.0, min_reps=3, warmup=0)
    assert len(t.samples) == 3 and all(s >= 0.01 for s in t.samples)  # a sleep never ends early


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
