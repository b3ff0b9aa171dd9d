"""The pipeline's figures, and computing them from raw samples of the services' /metrics
(pure: no I/O). The same figures are read from the recording rules when Prometheus answers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# (metric name, labels, value) as the text exposition format carries it.
Sample = tuple[str, Mapping[str, str], float]

COMPLETED = ("completed", "reused")  # the outcomes of clearcut_processor_tasks_total that count


@dataclass(frozen=True)
class Figures:
    """What the status screen shows; None where there is no data."""

    window: str  # e.g. "last 5 min (Prometheus)", "since the services started"
    per_second: bool  # rates (True) or totals (False) in the throughput fields
    accepted: float | None = None
    completed: float | None = None
    failed: float | None = None
    failure_ratio: float | None = None
    task_p50: float | None = None
    task_p95: float | None = None
    task_p99: float | None = None
    lag: float | None = None
    connections: float | None = None
    dead_letters: float | None = None
    failures_by_reason: dict[str, float] = field(default_factory=dict)


def _total(samples: Iterable[Sample], name: str, **match: tuple[str, ...]) -> float | None:
    values = [
        value
        for sample_name, labels, value in samples
        if sample_name == name and all(labels.get(k) in v for k, v in match.items())
    ]
    return sum(values) if values else None


def _by(samples: Iterable[Sample], name: str, label: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for sample_name, labels, value in samples:
        if sample_name == name:
            key = labels.get(label, "")
            found[key] = found.get(key, 0.0) + value
    return found


def buckets(samples: Iterable[Sample], name: str) -> dict[float, float]:
    """A histogram's cumulative bucket counts by upper bound, summed over its series."""
    found: dict[float, float] = {}
    for sample_name, labels, value in samples:
        if sample_name == f"{name}_bucket":
            bound = float(labels["le"])
            found[bound] = found.get(bound, 0.0) + value
    return found


def quantile(q: float, cumulative: Mapping[float, float]) -> float | None:
    """The q-quantile of a histogram, interpolated within its bucket as Prometheus's
    histogram_quantile does; None without observations."""
    bounds = sorted(cumulative)
    if not bounds or not math.isinf(bounds[-1]) or cumulative[bounds[-1]] <= 0:
        return None
    rank = q * cumulative[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # above the highest finite bucket
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return None


def _delta(now: float | None, before: float | None) -> float | None:
    if now is None:
        return None
    # A restarted service starts its counters at zero again.
    return now if before is None or now < before else now - before


def from_samples(
    now: list[Sample], before: list[Sample] | None = None, seconds: float = 0.0
) -> Figures:
    """Figures from the services' samples: totals since they started, or, given an earlier
    scrape ``before`` taken ``seconds`` earlier, rates and latencies over that interval."""
    previous = before if before is not None and seconds > 0 else None

    def counter(name: str, **match: tuple[str, ...]) -> float | None:
        value = _total(now, name, **match)
        if previous is None:
            return value
        delta = _delta(value, _total(previous, name, **match))
        return None if delta is None else delta / seconds

    task_buckets = buckets(now, "clearcut_processor_task_seconds")
    if previous is not None:
        earlier = buckets(previous, "clearcut_processor_task_seconds")
        task_buckets = {b: c - earlier.get(b, 0.0) for b, c in task_buckets.items()}
        if any(c < 0 for c in task_buckets.values()):  # a restart: fall back to totals
            task_buckets = buckets(now, "clearcut_processor_task_seconds")

    completed = counter("clearcut_processor_tasks_total", outcome=COMPLETED)
    failed = counter("clearcut_processor_tasks_total", outcome=("failed",))
    all_tasks = counter("clearcut_processor_tasks_total")
    if failed is None and all_tasks is not None:
        failed = 0.0  # tasks are counted, none failed: no failed-outcome series yet
    reasons = _by(now, "clearcut_processor_failures_total", "reason")
    if previous is not None:
        earlier_reasons = _by(previous, "clearcut_processor_failures_total", "reason")
        reasons = {
            r: (_delta(v, earlier_reasons.get(r)) or 0.0) / seconds for r, v in reasons.items()
        }
    # Dead letters are a count in every window: since the start here.
    dead = [
        v
        for v in (
            _total(now, "clearcut_processor_dead_letters_total"),
            _total(now, "notifier_invalid_records_total"),
        )
        if v is not None
    ]
    return Figures(
        window=f"last {seconds:.1f} s (services' /metrics)"
        if previous is not None
        else "since each service started (services' /metrics)",
        per_second=previous is not None,
        accepted=counter("clearcut_uploads_total", outcome=("accepted",)),
        completed=completed,
        failed=failed,
        failure_ratio=None
        if all_tasks is None or failed is None
        else failed / max(all_tasks, 1e-9),
        task_p50=quantile(0.50, task_buckets),
        task_p95=quantile(0.95, task_buckets),
        task_p99=quantile(0.99, task_buckets),
        lag=_total(now, "clearcut_processor_consumer_lag"),
        connections=_total(now, "notifier_connections"),
        dead_letters=sum(dead) if dead else None,
        failures_by_reason={r: v for r, v in reasons.items() if v > 0},
    )
