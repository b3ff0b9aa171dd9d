"""Summaries of measured samples: percentiles, medians and ratios (pure)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100): numpy's, linear interpolation between closest ranks
    (for n values the rank is ``q/100 * (n-1)``, so with 20 samples p99 lies between the
    largest two, never beyond the largest)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0-100")
    return float(np.percentile(values, q))


@dataclass(frozen=True)
class Summary:
    count: int
    mean: float
    minimum: float
    p50: float
    p95: float
    p99: float
    maximum: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def summarise(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("summary of no values")
    return Summary(
        count=len(values),
        mean=statistics.fmean(values),
        minimum=min(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        maximum=max(values),
    )


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN when the denominator is not positive."""
    if denominator <= 0:
        return math.nan
    return numerator / denominator


def paired_ratios(ours: Sequence[float], theirs: Sequence[float]) -> list[float]:
    """Per-pair ratios of two interleaved series of the same length."""
    if len(ours) != len(theirs):
        raise ValueError(f"series differ in length: {len(ours)} and {len(theirs)}")
    return [ratio(a, b) for a, b in zip(ours, theirs, strict=True)]
