"""The fan-out measurement: subscribers held idle, then the event-to-client delay.

It returns plain results; ``bench.scenarios.fanout`` presents them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.fanout.clients import Workers, start_baseline, start_workers
from bench.fanout.notifier import NotifierProcess, histogram_quantile, metric, start_notifier
from bench.fanout.setup import clean_up, make_owners, make_topics, produce
from services.common.settings import CommonSettings, TopicNames

SUBSCRIBE_ALL = json.dumps({"type": "subscribe", "all": True})
PER_OWNER, BROADCAST = "per-owner", "broadcast"


@dataclass
class Connected:
    clients: int
    ready: int
    failures: int
    connect_seconds: float
    rss_before_kib: int
    rss_with_kib: int

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_with_kib - self.rss_before_kib) / max(self.ready, 1)


@dataclass(frozen=True)
class Held:
    """The subscribers held idle (heartbeats only) before any event: what the notifier's
    ``notifier_connections`` gauge says at the start and the end, and its CPU meanwhile."""

    seconds: float
    connections_at_start: float
    connections_at_end: float
    cpu_percent: float
    dropped: int


@dataclass
class LatencyResult:
    mode: str
    connected: Connected
    rate: float
    duration: float
    sent: int
    expected: int
    elapsed_s: float
    notifier_cpu_s: float
    notifier_waited_s: float
    dropped: int
    rss_end_kib: int
    histogram_p50_s: float | None
    histogram_p99_s: float | None
    held: Held | None = None
    delays_ms: list[float] = field(default_factory=list)
    kafka_delays_ms: list[float] = field(default_factory=list)


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def measure_latency(
    settings: CommonSettings,
    *,
    clients: int,
    mode: str,
    rate: float,
    duration: float,
    processes: int,
    log_dir: Path,
    say: Callable[[str], None],
    hold: float = 0.0,
) -> LatencyResult:
    """``clients`` subscribed to all of their owner's images; ``per-owner``: each its own
    owner, so an event reaches one client; ``broadcast``: one owner, so it reaches all.
    With ``hold`` the subscribers are first held idle that many seconds (see ``Held``)."""
    tag = _tag()
    topics = TopicNames(prefix=f"bench.{tag}.", partitions=3)
    asyncio.run(make_topics(settings, topics))
    owners = asyncio.run(make_owners(settings, clients if mode == PER_OWNER else 1, tag))
    notifier = start_notifier(topics.prefix, log_dir / f"bench-notifier-{tag}.log")
    try:
        time.sleep(1)
        before = notifier.rss_kib()
        population = [(owners[n % len(owners)][1], SUBSCRIBE_ALL) for n in range(clients)]
        started = time.monotonic()
        workers = start_workers(notifier.ws_url, population, processes)
        ready, failures, examples = workers.wait_ready()
        connected = Connected(
            clients,
            ready,
            failures,
            time.monotonic() - started,
            before,
            notifier.rss_kib(),
        )
        say(
            f"  {mode}: {ready} of {clients} subscribed in {connected.connect_seconds:.1f} s "
            f"({failures} failed{': ' + examples[0] if examples else ''}); "
            f"notifier RSS {connected.rss_with_kib / 1024:.0f} MiB"
        )
        held = _hold(notifier, workers, hold, failures) if hold > 0 else None
        baseline = start_baseline(topics.prefix)
        baseline.wait_ready()
        names = [name for name, _ in owners]
        cpu_before = notifier.cpu_seconds()
        wait_before = notifier.cpu_wait_seconds()
        began = time.monotonic()
        sent = asyncio.run(produce(settings, topics, names, rate, duration))
        expected = sent * (1 if mode == PER_OWNER else ready)
        # Until every delivery is in, or nothing more arrives for 10 s.
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 10:
            got = workers.received()
            if got >= expected:
                break
            if got != last:
                last, quiet_since = got, time.monotonic()
            time.sleep(0.5)
        text = notifier.metrics()
        cpu = notifier.cpu_seconds() - cpu_before
        waited = notifier.cpu_wait_seconds() - wait_before
        elapsed = time.monotonic() - began
        rss_end = notifier.rss_kib()
        delays, lost = workers.stop()
        kafka_delays, _ = baseline.stop()
        return LatencyResult(
            mode=mode,
            connected=connected,
            rate=rate,
            duration=duration,
            sent=sent,
            expected=expected,
            elapsed_s=elapsed,
            notifier_cpu_s=cpu,
            notifier_waited_s=waited,
            dropped=lost - failures,
            rss_end_kib=rss_end,
            histogram_p50_s=histogram_quantile(text, "notifier_event_to_send_seconds", 0.5),
            histogram_p99_s=histogram_quantile(text, "notifier_event_to_send_seconds", 0.99),
            held=held,
            delays_ms=[d * 1000 for d in delays],
            kafka_delays_ms=[d * 1000 for d in kafka_delays],
        )
    finally:
        notifier.stop()
        asyncio.run(clean_up(settings, tag, topics))


def _hold(notifier: NotifierProcess, workers: Workers, seconds: float, failures: int) -> Held:
    at_start = metric(notifier.metrics(), "notifier_connections")
    cpu_before = notifier.cpu_seconds()
    time.sleep(seconds)
    cpu = notifier.cpu_seconds() - cpu_before
    at_end = metric(notifier.metrics(), "notifier_connections")
    return Held(seconds, at_start, at_end, 100 * cpu / seconds, workers.failures() - failures)
