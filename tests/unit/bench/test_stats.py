"""Percentiles, summaries and ratios of the benchmark suite."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stats import median, paired_ratios, percentile, ratio, summarise


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 100])
def test_percentile_agrees_with_numpy_linear_interpolation(q: float) -> None:
    values = [float(v) for v in np.random.default_rng(7).normal(100, 30, size=37)]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    # rank 0.99 * 3 = 2.97: between 30 and 40, never beyond the largest
    assert percentile(values, 99) == pytest.approx(39.7)


def test_percentile_does_not_care_about_order() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.5], 99) == 7.5


def test_percentile_refuses_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_summary_figures() -> None:
    summary = summarise([float(v) for v in range(1, 101)])
    assert summary.count == 100
    assert summary.mean == 50.5
    assert summary.minimum == 1.0 and summary.maximum == 100.0
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p95 == pytest.approx(95.05)
    assert summary.p99 == pytest.approx(99.01)
    assert summary.as_dict()["p99"] == summary.p99


def test_median_and_ratios() -> None:
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5
    assert ratio(105.0, 100.0) == pytest.approx(1.05)
    assert math.isnan(ratio(1.0, 0.0))
    assert paired_ratios([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    with pytest.raises(ValueError, match="length"):
        paired_ratios([1.0], [1.0, 2.0])
