"""The side-by-side benchmark's verdict (benchmarks/setup_fresh.py): judged by an interval, not a point."""

from __future__ import annotations

import statistics

from benchmarks.setup_fresh import TARGET_S, interval, verdict


def test_met_only_when_the_whole_interval_is_at_or_under_the_target():
    assert verdict(0.38, 0.44) == "MET"
    assert verdict(0.30, TARGET_S) == "MET"
    assert verdict(0.45, 0.51).startswith("AT THE TARGET")
    assert verdict(TARGET_S, 0.6).startswith("AT THE TARGET")
    assert verdict(0.51, 0.6) == "NOT MET"


def test_interval_holds_the_median_and_stays_inside_the_values():
    rounds = [0.21, 0.25, 0.65, 0.38, 0.42, 0.46, 0.42, 0.59, 0.42, 0.20, 0.39, 0.75, 0.40, 0.42, 0.30, 0.39, 0.88,
              0.38, 0.69, 0.15]
    low, high = interval(rounds)
    assert min(rounds) <= low <= statistics.median(rounds) <= high <= max(rounds)
    assert interval(rounds) == (low, high)  # seeded: the same figures every run
    assert interval([0.4] * 15) == (0.4, 0.4)


def test_interval_leaves_about_a_tenth_of_the_resampled_medians_outside():
    import random

    values = [i / 100 for i in range(1, 41)]
    low, high = interval(values)
    rng = random.Random(1)  # other resamplings than the interval's own
    medians = [statistics.median(rng.choices(values, k=len(values))) for _ in range(4000)]
    inside = sum(low <= m <= high for m in medians) / len(medians)
    assert 0.8 <= inside <= 0.97
