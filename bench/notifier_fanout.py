"""Measure one notifier process: idle connections held, memory per connection, and the delay
from an event being produced to websocket clients receiving it.

The measurements live in ``bench.fanout`` (also used by ``clearcut bench fanout``); this
script keeps their direct, printed form:

    .venv/bin/python bench/notifier_fanout.py idle --connections 10000
    .venv/bin/python bench/notifier_fanout.py latency --clients 1000 --mode per-owner
    .venv/bin/python bench/notifier_fanout.py latency --clients 1000 --mode broadcast
    .venv/bin/python bench/notifier_fanout.py all

Modes of `latency`:
- ``per-owner``: every client is a different owner subscribed to all of its images; each
  event is for one owner, so it goes to exactly one client.
- ``broadcast``: every client belongs to one owner; each event goes to all of them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == REPO / "bench":
    sys.path[0] = str(REPO)  # run as a script: import the package, not its modules

from bench.fanout.runs import measure_idle, measure_latency  # noqa: E402
from bench.stats import percentile  # noqa: E402
from services.common.settings import CommonSettings  # noqa: E402


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def describe_machine() -> None:
    load = Path("/proc/loadavg").read_text().split()[:3]
    out(f"machine: {os.cpu_count()} CPUs, load average {' '.join(load)}")
    top = subprocess.run(
        ["ps", "-eo", "pcpu,rss,args", "--sort=-pcpu"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[1:8]
    out("busiest processes at start (%CPU, RSS KiB, command):")
    for line in top:
        out("   " + line.strip()[:140])


def idle(args: argparse.Namespace, settings: CommonSettings, log_dir: Path) -> None:
    result = measure_idle(
        settings,
        connections=args.connections,
        owners=args.owners,
        hold=args.hold,
        subscribe=args.subscribe,
        processes=args.processes,
        log_dir=log_dir,
        say=out,
    )
    c = result.connected
    out(
        f"connected {c.ready} of {c.clients} clients in {c.connect_seconds:.1f} s "
        f"({c.failures} failed{': ' + c.failure_example if c.failure_example else ''})"
    )
    out(f"notifier_connections = {result.held:.0f}")
    out(
        f"after holding {result.hold_seconds:.0f} s: notifier_connections = "
        f"{result.still_held:.0f}, notifier CPU {result.cpu_percent:.1f}% of one core"
    )
    out(
        f"notifier RSS {c.rss_before_kib / 1024:.1f} MiB before clients, "
        f"{c.rss_with_kib / 1024:.1f} MiB with them ({result.rss_end_kib / 1024:.1f} MiB at "
        f"end); {c.kib_per_connection:.1f} KiB per connection"
    )
    out(f"clients dropped while held: {result.dropped}")


def latency(args: argparse.Namespace, settings: CommonSettings, log_dir: Path, mode: str) -> None:
    rate = args.rate or (50.0 if mode == "per-owner" else 5.0)
    result = measure_latency(
        settings,
        clients=args.clients,
        mode=mode,
        rate=rate,
        duration=args.duration,
        processes=args.processes,
        log_dir=log_dir,
        say=out,
    )
    out(
        f"produced {result.sent} events at {rate:g}/s for {args.duration:g} s; "
        f"{len(result.delays_ms)} of {result.expected} deliveries received; "
        f"{result.dropped} clients dropped"
    )
    out(
        f"notifier over {result.elapsed_s:.1f} s: {result.notifier_cpu_s:.1f} s of CPU; its "
        f"event-loop thread waited {result.notifier_waited_s:.1f} s runnable for a CPU"
    )
    for label, ms in (
        ("event produced -> client received", result.delays_ms),
        ("for comparison, produced -> a bare low-latency consumer", result.kafka_delays_ms),
    ):
        if ms:
            out(
                f"{label}: p50 {percentile(ms, 50):.1f} ms, p90 {percentile(ms, 90):.1f} ms, "
                f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms, "
                f"mean {statistics.fmean(ms):.1f} ms ({len(ms)})"
            )
    out(
        "notifier's own histogram (event time -> written to socket), bucket bounds: "
        f"p50 <= {result.histogram_p50_s} s, p99 <= {result.histogram_p99_s} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    idle_parser = sub.add_parser("idle", help="hold idle connections; memory per connection")
    idle_parser.add_argument("--connections", type=int, default=10_000)
    idle_parser.add_argument("--owners", type=int, default=100)
    idle_parser.add_argument("--hold", type=float, default=30.0, help="seconds to hold them")
    idle_parser.add_argument("--no-subscribe", dest="subscribe", action="store_false")
    latency_parser = sub.add_parser("latency", help="event -> client delay, subscribed clients")
    latency_parser.add_argument("--clients", type=int, default=1000)
    latency_parser.add_argument("--mode", choices=["per-owner", "broadcast"], default="per-owner")
    latency_parser.add_argument(
        "--rate", type=float, help="events per second (default 50 per-owner, 5 broadcast)"
    )
    latency_parser.add_argument("--duration", type=float, default=20.0, help="seconds")
    every = sub.add_parser("all", help="idle, then latency per-owner, then broadcast")
    for p in (idle_parser, latency_parser, every):
        p.add_argument("--processes", type=int, default=2, help="client worker processes")
    every.add_argument("--connections", type=int, default=10_000)
    every.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args()
    for name, default in (
        ("owners", 100),
        ("hold", 30.0),
        ("subscribe", True),
        ("rate", None),
        ("duration", 20.0),
    ):
        if not hasattr(args, name):
            setattr(args, name, default)

    settings = CommonSettings()
    log_dir = REPO / ".clearcut" / "logs"
    describe_machine()
    if args.command in ("idle", "all"):
        out("\n== idle connections")
        idle(args, settings, log_dir)
    if args.command in ("latency", "all"):
        for mode in [args.mode] if args.command == "latency" else ["per-owner", "broadcast"]:
            out(f"\n== latency, {mode}")
            latency(args, settings, log_dir, mode)


if __name__ == "__main__":
    main()
