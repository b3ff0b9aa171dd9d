"""The status screen's figures computed from the services' raw samples (pure)."""

from __future__ import annotations

import math

import pytest

from services.ops.status.figures import Sample, buckets, from_samples, quantile
from services.ops.status.sources import parse_samples

INF = math.inf


def _histogram(counts: dict[float, float]) -> list[Sample]:
    return [
        ("clearcut_processor_task_seconds_bucket", {"le": str(b) if b != INF else "+Inf"}, c)
        for b, c in counts.items()
    ]


def test_quantile_interpolates_within_the_bucket_like_histogram_quantile() -> None:
    cumulative = {0.5: 10.0, 1.0: 30.0, 2.0: 40.0, INF: 40.0}
    assert quantile(0.25, cumulative) == pytest.approx(0.5)  # rank 10: top of the first
    assert quantile(0.5, cumulative) == pytest.approx(0.75)  # rank 20: half way in (0.5, 1]
    assert quantile(0.875, cumulative) == pytest.approx(1.5)  # rank 35: half way in (1, 2]


def test_quantile_of_an_empty_histogram_is_none() -> None:
    assert quantile(0.5, {}) is None
    assert quantile(0.5, {1.0: 0.0, INF: 0.0}) is None


def test_a_quantile_past_the_highest_finite_bucket_is_that_bound() -> None:
    assert quantile(0.99, {1.0: 1.0, INF: 10.0}) == 1.0


def test_buckets_sum_the_series_of_every_instance() -> None:
    samples = _histogram({1.0: 1, INF: 2}) + _histogram({1.0: 3, INF: 3})
    assert buckets(samples, "clearcut_processor_task_seconds") == {1.0: 4, INF: 5}


SCRAPE = """\
# TYPE clearcut_uploads_total counter
clearcut_uploads_total{outcome="accepted"} 7
clearcut_uploads_total{outcome="too_large"} 2
# TYPE clearcut_processor_tasks_total counter
clearcut_processor_tasks_total{outcome="completed"} 5
clearcut_processor_tasks_total{outcome="reused"} 1
clearcut_processor_tasks_total{outcome="failed"} 2
# TYPE clearcut_processor_failures_total counter
clearcut_processor_failures_total{reason="image_undecodable"} 2
# TYPE clearcut_processor_consumer_lag gauge
clearcut_processor_consumer_lag{partition="0"} 3
clearcut_processor_consumer_lag{partition="1"} 4
# TYPE notifier_connections gauge
notifier_connections 2
"""


def test_totals_since_the_start_from_one_scrape() -> None:
    figures = from_samples(list(parse_samples(SCRAPE)))
    assert not figures.per_second
    assert figures.accepted == 7
    assert figures.completed == 6  # completed and reused
    assert figures.failed == 2
    assert figures.failure_ratio == pytest.approx(2 / 8)
    assert figures.lag == 7
    assert figures.connections == 2
    assert figures.failures_by_reason == {"image_undecodable": 2}
    assert figures.task_p50 is None  # no histogram in this scrape
    assert figures.dead_letters is None


def test_rates_between_two_scrapes() -> None:
    before = list(parse_samples(SCRAPE)) + _histogram({1.0: 0, 4.0: 0, INF: 0})
    later = SCRAPE.replace('"accepted"} 7', '"accepted"} 17').replace(
        '"completed"} 5', '"completed"} 9'
    )
    now = list(parse_samples(later)) + _histogram({1.0: 2, 4.0: 4, INF: 4})
    figures = from_samples(now, before, seconds=2.0)
    assert figures.per_second
    assert figures.accepted == pytest.approx(5.0)
    assert figures.completed == pytest.approx(2.0)
    assert figures.failed == 0
    assert figures.failure_ratio == 0
    assert figures.failures_by_reason == {}
    assert figures.task_p50 == pytest.approx(1.0)  # only the interval's observations count


def test_a_restarted_service_counts_from_zero_again() -> None:
    before = list(parse_samples(SCRAPE))
    restarted = list(parse_samples('clearcut_uploads_total{outcome="accepted"} 3\n'))
    figures = from_samples(restarted, before, seconds=1.0)
    assert figures.accepted == pytest.approx(3.0)


def test_tasks_without_a_failure_read_zero_failed_not_no_data() -> None:
    samples = list(parse_samples('clearcut_processor_tasks_total{outcome="completed"} 4\n'))
    figures = from_samples(samples)
    assert figures.failed == 0
    assert figures.failure_ratio == 0


def test_nothing_scraped_is_no_data_everywhere() -> None:
    figures = from_samples([])
    assert figures.accepted is figures.completed is figures.failed is figures.lag is None
