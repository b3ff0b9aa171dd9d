"""Measure one notifier process: idle connections held, memory per connection, and the delay
from an event being produced to websocket clients receiving it.

Runs against the local stack (`clearcut stack up`). Starts its own notifier process
(``python -m services.notifier``) on a free port under a fresh topic prefix, creates API keys
for throw-away owners (deleted again at the end), and runs the websocket clients in worker
processes of its own, so that the notifier's numbers are its own.

    .venv/bin/python bench/notifier_fanout.py idle --connections 10000
    .venv/bin/python bench/notifier_fanout.py latency --clients 1000 --mode per-owner
    .venv/bin/python bench/notifier_fanout.py latency --clients 1000 --mode broadcast
    .venv/bin/python bench/notifier_fanout.py all

Modes of `latency`:
- ``per-owner``: every client is a different owner subscribed to all of its images; each
  event is for one owner, so it goes to exactly one client (1,000 subscriptions, 1 recipient
  per event).
- ``broadcast``: every client belongs to one owner; each event goes to all of them.

The delay of one delivery is the client's receipt time minus the event's ``occurred_at``,
which is set immediately before the event is handed to the Kafka producer; producer,
broker, notifier and client all run on this machine and share its clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import httpx  # noqa: E402

from schemas import ProcessingStarted  # noqa: E402
from services.common.auth import create_key  # noqa: E402
from services.common.kafka.admin import admin_client, create_topics, project_topics  # noqa: E402
from services.common.kafka.producer import EventPublisher, create_producer  # noqa: E402
from services.common.settings import CommonSettings, TopicNames  # noqa: E402

EXAMPLE = json.loads((REPO / "schemas" / "examples" / "ProcessingStarted.json").read_text())


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- the notifier under test ---------------------------------------------------------------


@dataclass
class Notifier:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_wait_seconds(self) -> float:
        """Time the main (event-loop) thread was runnable but waiting for a CPU."""
        return int(Path(f"/proc/{self.process.pid}/schedstat").read_text().split()[1]) / 1e9

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_notifier(prefix: str, log: Path) -> Notifier:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.update(
        CLEARCUT_TOPIC_PREFIX=prefix,
        CLEARCUT_NOTIFIER_PORT=str(port),
        CLEARCUT_NOTIFIER_MAX_CONNECTIONS_PER_OWNER="100000",
        CLEARCUT_NOTIFIER_PG_POOL_MAX="10",
        CLEARCUT_OTEL_LOG_FORMAT="text",
        CLEARCUT_OTEL_LOG_LEVEL="WARNING",
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.notifier"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    notifier = Notifier(process, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"notifier exited; see {log}")
        try:
            if httpx.get(f"{notifier.url}/readyz", timeout=2).status_code == 200:
                return notifier
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    notifier.stop()
    raise RuntimeError(f"notifier not ready; see {log}")


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def histogram_quantile(text: str, name: str, q: float) -> float | None:
    """Upper bound of the bucket holding quantile ``q`` (what Prometheus would interpolate)."""
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append(
                (float("inf") if bound == "+Inf" else float(bound), float(line.split()[-1]))
            )
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for bound, count in sorted(buckets):
        if count >= q * total:
            return bound
    return None


# -- client workers (separate processes) ---------------------------------------------------


def worker(url: str, clients: list[tuple[str, str]], pipe: Connection) -> None:
    """Hold ``clients`` (key, subscribe message) open; report readiness, then delays."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(_worker(url, clients, pipe))


async def _worker(url: str, clients: list[tuple[str, str]], pipe: Connection) -> None:
    delays: list[float] = []
    ready = 0
    failed: list[str] = []
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    http = aiohttp.ClientSession(connector=connector)
    gate = asyncio.Semaphore(100)
    done = asyncio.Event()
    settled = asyncio.Event()

    def check_settled() -> None:
        if ready + len(failed) >= len(clients):
            settled.set()

    async def one(key: str, subscribe: str) -> None:
        nonlocal ready
        try:
            async with gate:
                ws = await http.ws_connect(
                    url,
                    headers={"Authorization": f"Bearer {key}"},
                    autoping=True,
                    compress=0,
                    max_msg_size=0,
                )
                welcome = await ws.receive(timeout=60)
                if '"welcome"' not in welcome.data:
                    raise RuntimeError(welcome.data)
                if subscribe:
                    await ws.send_str(subscribe)
                    answer = await ws.receive(timeout=60)
                    if '"snapshot"' not in answer.data:
                        raise RuntimeError(answer.data)
            ready += 1
        except Exception as exc:  # noqa: BLE001 - report, do not stop the others
            failed.append(f"{type(exc).__name__}: {exc}"[:200])
            check_settled()
            return
        check_settled()
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            received = time.time()
            data: str = message.data
            if data.startswith('{"type":"event"'):
                start = data.index('"time":"') + 8
                stamp = data[start : data.index('"', start)]
                delays.append(received - datetime.fromisoformat(stamp).timestamp())
        if not done.is_set():
            failed.append(f"closed by the server: {ws.close_code}")

    tasks = [asyncio.create_task(one(key, sub)) for key, sub in clients]
    check_settled()  # nothing to wait for when this worker got no clients
    await settled.wait()
    pipe.send({"ready": ready, "failed": failed[:5], "failures": len(failed)})
    await loop.run_in_executor(None, pipe.recv)  # wait for "stop"
    done.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await http.close()
    pipe.send({"delays": delays, "failures": len(failed), "failed": failed[:5]})


def kafka_baseline(prefix: str, pipe: Connection) -> None:
    """A bare low-latency consumer of the Started topic: the Kafka hop alone, for comparison."""
    asyncio.run(_kafka_baseline(prefix, pipe))


async def _kafka_baseline(prefix: str, pipe: Connection) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.common.kafka.consumer import consumer_config

    settings = CommonSettings()
    topic = TopicNames(prefix=prefix).started
    consumer = AIOKafkaConsumer(
        **consumer_config(
            settings.kafka, None, "bench-baseline", offset_reset="latest", low_latency=True
        )
    )
    await consumer.start()
    partitions = [
        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
    ]
    if not partitions:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    delays: list[float] = []
    stop = asyncio.Event()

    async def wait_stop() -> None:
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        stop.set()

    pipe.send({"ready": 1, "failed": [], "failures": 0})
    waiter = asyncio.create_task(wait_stop())
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=100)
        received = time.time()
        for records in batches.values():
            for record in records:
                start = record.value.index(b'"occurred_at":"') + 15
                stamp = record.value[start : record.value.index(b'"', start)].decode()
                delays.append(received - datetime.fromisoformat(stamp).timestamp())
    await waiter
    await consumer.stop()
    pipe.send({"delays": delays, "failures": 0, "failed": []})


@dataclass
class Workers:
    processes: list[mp.Process]
    pipes: list[Connection]

    def wait_ready(self) -> tuple[int, int, list[str]]:
        reports = [p.recv() for p in self.pipes]
        examples = [e for r in reports for e in r["failed"]]
        return sum(r["ready"] for r in reports), sum(r["failures"] for r in reports), examples

    def stop(self) -> tuple[list[float], int]:
        for pipe in self.pipes:
            pipe.send("stop")
        reports = [p.recv() for p in self.pipes]
        for process in self.processes:
            process.join(30)
        return [d for r in reports for d in r["delays"]], sum(r["failures"] for r in reports)


def start_baseline(prefix: str) -> Workers:
    context = mp.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=kafka_baseline, args=(prefix, theirs))
    process.start()
    return Workers([process], [ours])


def start_workers(url: str, clients: list[tuple[str, str]], count: int) -> Workers:
    context = mp.get_context("spawn")
    processes, pipes = [], []
    for index in range(count):
        ours, theirs = context.Pipe()
        process = context.Process(target=worker, args=(url, clients[index::count], theirs))
        process.start()
        processes.append(process)
        pipes.append(ours)
    return Workers(processes, pipes)


# -- setup ---------------------------------------------------------------------------------


async def make_owners(settings: CommonSettings, count: int, tag: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(settings.postgres.dsn)
    try:
        owners = []
        for n in range(count):
            name = f"bench-{tag}-{n}"
            owners.append((name, await create_key(conn, name)))
        return owners
    finally:
        await conn.close()


async def clean_up(settings: CommonSettings, tag: str, topics: TopicNames) -> None:
    """Delete the bench's keys and topics."""
    conn = await asyncpg.connect(settings.postgres.dsn)
    try:
        await conn.execute("DELETE FROM api_keys WHERE owner LIKE $1", f"bench-{tag}-%")
    finally:
        await conn.close()
    admin = admin_client(settings.kafka)
    await admin.start()
    try:
        await admin.delete_topics([spec.name for spec in project_topics(topics)])
    finally:
        await admin.close()


def started_event(owner: str) -> ProcessingStarted:
    data = dict(EXAMPLE)
    data.update(
        event_id=str(uuid.uuid4()),
        image_id=f"img-{uuid.uuid4().hex[:16]}",
        task_id=f"task-{uuid.uuid4().hex[:16]}",
        owner=owner,
        occurred_at=datetime.now(UTC).isoformat(),
    )
    return ProcessingStarted.model_validate(data)


async def produce(
    settings: CommonSettings, topics: TopicNames, owners: list[str], rate: float, duration: float
) -> int:
    producer = create_producer(settings.kafka, "clearcut-bench")
    await producer.start()
    publisher = EventPublisher(producer, topics, source="/clearcut/bench")
    pending: set[asyncio.Task[Any]] = set()
    sent = 0
    try:
        start = time.monotonic()
        total = int(rate * duration)
        for n in range(total):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            task = asyncio.create_task(publisher.publish(started_event(owners[n % len(owners)])))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def describe_machine() -> None:
    load = Path("/proc/loadavg").read_text().split()[:3]
    out(f"machine: {os.cpu_count()} CPUs, load average {' '.join(load)}")
    top = subprocess.run(
        ["ps", "-eo", "pcpu,rss,args", "--sort=-pcpu"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[1:8]
    out("busiest processes at start (%CPU, RSS KiB, command):")
    for line in top:
        out("   " + line.strip()[:140])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- scenarios -----------------------------------------------------------------------------


def run_idle(args: argparse.Namespace, settings: CommonSettings, tag: str, log: Path) -> None:
    topics = TopicNames(prefix=f"bench.{tag}.", partitions=3)
    asyncio.run(create_topics(settings.kafka, project_topics(topics)))
    owners = asyncio.run(make_owners(settings, args.owners, tag))
    notifier = start_notifier(topics.prefix, log)
    try:
        time.sleep(2)
        baseline = notifier.rss_kib()
        out(f"notifier pid {notifier.process.pid}: RSS {baseline / 1024:.1f} MiB before clients")
        subscribe = json.dumps({"type": "subscribe", "all": True}) if args.subscribe else ""
        clients = [(owners[n % len(owners)][1], subscribe) for n in range(args.connections)]
        started = time.monotonic()
        workers = start_workers(f"ws://127.0.0.1:{notifier.port}/v1/ws", clients, args.processes)
        ready, failures, examples = workers.wait_ready()
        connect_seconds = time.monotonic() - started
        held = metric(notifier.metrics(), "notifier_connections")
        after = notifier.rss_kib()
        out(
            f"connected {ready} of {args.connections} clients in {connect_seconds:.1f} s "
            f"({failures} failed{': ' + examples[0] if examples else ''})"
        )
        out(f"notifier_connections = {held:.0f}")
        cpu_before = notifier.cpu_seconds()
        time.sleep(args.hold)
        cpu = notifier.cpu_seconds() - cpu_before
        still = metric(notifier.metrics(), "notifier_connections")
        rss_end = notifier.rss_kib()
        out(
            f"after holding {args.hold:.0f} s (heartbeat every 20 s): notifier_connections = "
            f"{still:.0f}, notifier CPU {100 * cpu / args.hold:.1f}% of one core"
        )
        out(
            f"notifier RSS {after / 1024:.1f} MiB with clients ({rss_end / 1024:.1f} MiB at end); "
            f"{(after - baseline) / max(ready, 1):.1f} KiB per connection "
            f"({'subscribed to all of their owner' if args.subscribe else 'authenticated only'})"
        )
        _, lost = workers.stop()
        out(f"clients dropped while held: {lost - failures}")
    finally:
        notifier.stop()
        asyncio.run(clean_up(settings, tag, topics))


def run_latency(args: argparse.Namespace, settings: CommonSettings, tag: str, log: Path) -> None:
    topics = TopicNames(prefix=f"bench.{tag}.", partitions=3)
    asyncio.run(create_topics(settings.kafka, project_topics(topics)))
    count = args.clients if args.mode == "per-owner" else 1
    owners = asyncio.run(make_owners(settings, count, tag))
    notifier = start_notifier(topics.prefix, log)
    try:
        subscribe = json.dumps({"type": "subscribe", "all": True})
        clients = [(owners[n % len(owners)][1], subscribe) for n in range(args.clients)]
        workers = start_workers(f"ws://127.0.0.1:{notifier.port}/v1/ws", clients, args.processes)
        ready, failures, examples = workers.wait_ready()
        out(
            f"{ready} clients subscribed ({failures} failed"
            f"{': ' + examples[0] if examples else ''}); mode {args.mode}"
        )
        baseline = start_baseline(topics.prefix)
        baseline.wait_ready()
        names = [name for name, _ in owners]
        cpu_before = notifier.cpu_seconds()
        wait_before = notifier.cpu_wait_seconds()
        started = time.monotonic()
        sent = asyncio.run(produce(settings, topics, names, args.rate, args.duration))
        expected = sent * (1 if args.mode == "per-owner" else ready)
        deadline = time.monotonic() + 30
        text = notifier.metrics()
        while time.monotonic() < deadline:
            text = notifier.metrics()
            if metric(text, 'notifier_messages_sent_total{kind="event"}') >= expected:
                break
            time.sleep(0.5)
        cpu = notifier.cpu_seconds() - cpu_before
        waited = notifier.cpu_wait_seconds() - wait_before
        elapsed = time.monotonic() - started
        delays, lost = workers.stop()
        kafka_delays, _ = baseline.stop()
        out(
            f"produced {sent} events at {args.rate:g}/s for {args.duration:g} s; "
            f"{len(delays)} of {expected} deliveries received; "
            f"{lost - failures} clients dropped"
        )
        out(
            f"notifier over {elapsed:.1f} s: {cpu:.1f} s of CPU; its event-loop thread waited "
            f"{waited:.1f} s runnable for a CPU taken by other processes"
        )
        if delays:
            ms = [d * 1000 for d in delays]
            out(
                "event produced -> client received: "
                f"p50 {percentile(ms, 0.50):.1f} ms, p90 {percentile(ms, 0.90):.1f} ms, "
                f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms, "
                f"mean {statistics.fmean(ms):.1f} ms"
            )
        if kafka_delays:
            ms = [d * 1000 for d in kafka_delays]
            out(
                "for comparison, event produced -> a bare low-latency consumer received it: "
                f"p50 {percentile(ms, 0.50):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
                f"max {max(ms):.1f} ms ({len(ms)} events)"
            )
        p50 = histogram_quantile(text, "notifier_event_to_send_seconds", 0.5)
        p99 = histogram_quantile(text, "notifier_event_to_send_seconds", 0.99)
        out(
            "notifier's own histogram (event time -> written to socket), bucket bounds: "
            f"p50 <= {p50} s, p99 <= {p99} s"
        )
    finally:
        notifier.stop()
        asyncio.run(clean_up(settings, tag, topics))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    idle = sub.add_parser("idle", help="hold idle connections; memory per connection")
    idle.add_argument("--connections", type=int, default=10_000)
    idle.add_argument("--owners", type=int, default=100)
    idle.add_argument("--hold", type=float, default=30.0, help="seconds to hold them")
    idle.add_argument("--no-subscribe", dest="subscribe", action="store_false")
    latency = sub.add_parser("latency", help="event -> client delay with subscribed clients")
    latency.add_argument("--clients", type=int, default=1000)
    latency.add_argument("--mode", choices=["per-owner", "broadcast"], default="per-owner")
    latency.add_argument(
        "--rate", type=float, help="events per second (default 50 per-owner, 5 broadcast)"
    )
    latency.add_argument("--duration", type=float, default=20.0, help="seconds of producing")
    every = sub.add_parser("all", help="idle, then latency per-owner, then broadcast")
    for p in (idle, latency, every):
        p.add_argument("--processes", type=int, default=2, help="client worker processes")
    every.add_argument("--connections", type=int, default=10_000)
    every.add_argument("--clients", type=int, default=1000)
    args = parser.parse_args()

    settings = CommonSettings()
    log_dir = REPO / ".clearcut" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    describe_machine()
    if args.command in ("idle", "all"):
        tag = uuid.uuid4().hex[:8]
        out(f"\n== idle connections (log: {log_dir / f'bench-notifier-{tag}.log'})")
        idle_args = argparse.Namespace(
            connections=args.connections,
            owners=getattr(args, "owners", 100),
            hold=getattr(args, "hold", 30.0),
            subscribe=getattr(args, "subscribe", True),
            processes=args.processes,
        )
        run_idle(idle_args, settings, tag, log_dir / f"bench-notifier-{tag}.log")
    if args.command in ("latency", "all"):
        modes = [args.mode] if args.command == "latency" else ["per-owner", "broadcast"]
        for mode in modes:
            tag = uuid.uuid4().hex[:8]
            out(f"\n== latency, {mode} (log: {log_dir / f'bench-notifier-{tag}.log'})")
            rate = getattr(args, "rate", None) or (50.0 if mode == "per-owner" else 5.0)
            latency_args = argparse.Namespace(
                clients=args.clients,
                mode=mode,
                rate=rate,
                duration=getattr(args, "duration", 20.0),
                processes=args.processes,
            )
            run_latency(latency_args, settings, tag, log_dir / f"bench-notifier-{tag}.log")


if __name__ == "__main__":
    main()
