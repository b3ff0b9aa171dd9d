"""Fan-out: websocket subscribers of one notifier; delay from event to receipt, and memory.

For each subscriber count (a tenth of N, then N): a fresh notifier process (see
``bench.fanout``) with that many clients, each subscribed to all of its owner's images,
in two shapes:

- ``per-owner``: every client a different owner; 50 events/s spread over the owners, so
  each event goes to one client among all of them;
- ``broadcast``: every client the same owner; each event goes to every client, at a rate
  that keeps the deliveries near 5,000/s.

The delay is the client's receipt time minus the event's ``occurred_at`` (set just before
it is produced); for comparison a bare low-latency Kafka consumer reads the same topic.
Before the events of the largest per-owner run its subscribers are held idle for
``HOLD`` seconds (heartbeats only): connections kept, drops, and the notifier's idle CPU.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bench.fanout.runs import BROADCAST, PER_OWNER, LatencyResult, measure_latency
from bench.pipeline import REPO
from bench.results import Metric, Plot, ScenarioResult, Series, Table, cdf
from bench.scenarios.context import Context
from bench.stats import percentile

TITLE = "Fan-out: websocket subscribers of one notifier, event-to-client delay and memory"
PER_OWNER_RATE = 50.0
BROADCAST_DELIVERIES = 5000.0
DURATION = 10.0
WORKER_PROCESSES = 2
HOLD = 30.0


def sizes(n: int) -> list[int]:
    return sorted({max(n // 10, 10), n})


def run(ctx: Context, n: int) -> ScenarioResult:
    settings = ctx.pipeline.settings
    log_dir = REPO / ".clearcut" / "logs"
    results: list[LatencyResult] = []
    for size in sizes(n):
        for mode in (PER_OWNER, BROADCAST):
            hold = HOLD if size == n and mode == PER_OWNER else 0.0
            rate = PER_OWNER_RATE if mode == PER_OWNER else min(5.0, BROADCAST_DELIVERIES / size)
            ctx.say(f"  {size:,} subscribers, {mode}, {rate:g} events/s for {DURATION:g} s")
            result = measure_latency(
                settings,
                clients=size,
                mode=mode,
                rate=rate,
                duration=DURATION,
                processes=WORKER_PROCESSES,
                log_dir=log_dir,
                say=ctx.say,
                hold=hold,
            )
            if result.delays_ms:
                ctx.say(
                    f"  received {len(result.delays_ms):,} of {result.expected:,}: p50 "
                    f"{percentile(result.delays_ms, 50):.1f} ms, p99 "
                    f"{percentile(result.delays_ms, 99):.1f} ms"
                )
            results.append(result)
    return _result(n, results)


def percentiles(values: list[float]) -> list[float]:
    return [percentile(values, q) for q in range(101)] if values else []


def _p(values: list[float], q: float) -> float:
    return percentile(values, q) if values else float("nan")


def _result(n: int, results: list[LatencyResult]) -> ScenarioResult:
    rows: list[list[Any]] = []
    for r in results:
        c = r.connected
        rows.append(
            [
                c.ready,
                r.mode,
                r.rate,
                r.expected,
                len(r.delays_ms),
                _p(r.delays_ms, 50),
                _p(r.delays_ms, 99),
                max(r.delays_ms) if r.delays_ms else float("nan"),
                _p(r.kafka_delays_ms, 50),
                _p(r.kafka_delays_ms, 99),
                c.rss_with_kib / 1024,
                c.kib_per_connection,
                c.connect_seconds,
                100 * r.notifier_cpu_s / r.elapsed_s,
                r.notifier_waited_s,
                r.dropped + c.failures,
            ]
        )
    largest = max(r.connected.ready for r in results)
    headline: list[Metric] = []
    for r in results:
        if r.connected.ready == largest and r.delays_ms:
            headline += [
                Metric(f"{largest:,} subscribers, {r.mode}: p50", _p(r.delays_ms, 50), "ms"),
                Metric(f"{largest:,} subscribers, {r.mode}: p99", _p(r.delays_ms, 99), "ms"),
            ]
    big = next(r for r in results if r.connected.ready == largest and r.mode == PER_OWNER)
    headline.append(
        Metric(
            f"notifier memory with {largest:,} subscribers",
            big.connected.rss_with_kib / 1024,
            "MiB",
        )
    )
    return ScenarioResult(
        scenario="fanout",
        title=TITLE,
        params={
            "subscribers": sorted({r.connected.clients for r in results}),
            "seconds_of_events": DURATION,
            "client_processes": WORKER_PROCESSES,
        },
        headline=headline,
        tables=[
            Table(
                "Event produced to client received (ms); notifier memory and CPU",
                [
                    "subscribers",
                    "shape",
                    "events/s",
                    "deliveries",
                    "received",
                    "p50",
                    "p99",
                    "max",
                    "Kafka only p50",
                    "Kafka only p99",
                    "notifier RSS MiB",
                    "KiB per subscriber",
                    "connect s",
                    "notifier CPU %",
                    "notifier waited for CPU s",
                    "lost clients",
                ],
                rows,
            ),
            *[
                Table(
                    f"{r.connected.ready:,} subscribers held idle before the events",
                    ["seconds", "connections at start", "at end", "notifier CPU %", "dropped"],
                    [
                        [
                            h.seconds,
                            h.connections_at_start,
                            h.connections_at_end,
                            h.cpu_percent,
                            h.dropped,
                        ]
                    ],
                )
                for r in results
                if (h := r.held) is not None
            ],
        ],
        plots=[
            Plot(
                "Event to client delay",
                "ms",
                "fraction of deliveries",
                [
                    cdf(f"{r.connected.ready:,} {r.mode}", r.delays_ms)
                    for r in results
                    if r.delays_ms
                ],
                log_x=True,
            ),
            Plot(
                "Notifier memory",
                "subscribers",
                "RSS MiB",
                [
                    Series(
                        mode,
                        [float(r.connected.ready) for r in results if r.mode == mode],
                        [r.connected.rss_with_kib / 1024 for r in results if r.mode == mode],
                    )
                    for mode in (PER_OWNER, BROADCAST)
                ],
            ),
        ],
        notes=[
            "Each row is its own notifier process on the running stack (fresh topic prefix, "
            "throw-away owners and keys, removed afterwards), with the pipeline's code and "
            "defaults except its port and the per-owner connection limit; the clients run in "
            f"{WORKER_PROCESSES} processes of their own on the same two cores.",
            "`notifier waited for CPU s`: time the notifier's event-loop thread was runnable "
            "but another process had the CPU (from /proc/<pid>/schedstat) during the events.",
            "`KiB per subscriber`: notifier RSS growth from before the clients connected to "
            "after all were subscribed, divided by the subscribers.",
        ],
        data={
            "runs": [
                {
                    "subscribers": r.connected.ready,
                    "mode": r.mode,
                    "rate": r.rate,
                    "sent": r.sent,
                    "expected": r.expected,
                    "received": len(r.delays_ms),
                    # Every percentile 0-100, not every delivery: a broadcast has 50,000.
                    "delay_percentiles_ms": percentiles(r.delays_ms),
                    "kafka_delay_percentiles_ms": percentiles(r.kafka_delays_ms),
                    "rss_before_kib": r.connected.rss_before_kib,
                    "rss_with_kib": r.connected.rss_with_kib,
                    "rss_end_kib": r.rss_end_kib,
                    "histogram_p50_s": r.histogram_p50_s,
                    "histogram_p99_s": r.histogram_p99_s,
                    "held": asdict(r.held) if r.held else None,
                }
                for r in results
            ]
        },
    )
