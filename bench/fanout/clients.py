"""Websocket clients in worker processes of their own, and a bare Kafka consumer to compare.

Each worker holds its share of the clients open, reports when all are connected and
subscribed, then records, for every event message, the receipt time minus the event's
``time`` (its ``occurred_at``), until told to stop.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from services.common.settings import CommonSettings, TopicNames


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
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
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

    def serve() -> None:
        """Answer "count" with the deliveries and failures so far, until "stop"."""
        while pipe.recv() != "stop":
            pipe.send({"count": len(delays), "failures": len(failed)})

    tasks = [asyncio.create_task(one(key, sub)) for key, sub in clients]
    check_settled()  # nothing to wait for when this worker got no clients
    await settled.wait()
    pipe.send({"ready": ready, "failed": failed[:5], "failures": len(failed)})
    await loop.run_in_executor(None, serve)
    done.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await http.close()
    pipe.send({"delays": delays, "failures": len(failed), "failed": failed[:5]})


def kafka_baseline(prefix: str, pipe: Connection) -> None:
    """A bare low-latency consumer of the Started topic: the Kafka hop alone."""
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
    await consumer.topics()
    known = consumer.partitions_for_topic(topic) or {0, 1, 2}
    partitions = [TopicPartition(topic, p) for p in sorted(known)]
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
    processes: list[Any]  # multiprocessing processes of the spawn context
    pipes: list[Connection]

    def wait_ready(self) -> tuple[int, int, list[str]]:
        reports = [p.recv() for p in self.pipes]
        examples = [e for r in reports for e in r["failed"]]
        return sum(r["ready"] for r in reports), sum(r["failures"] for r in reports), examples

    def received(self) -> int:
        """Deliveries the workers have received so far."""
        for pipe in self.pipes:
            pipe.send("count")
        return sum(int(pipe.recv()["count"]) for pipe in self.pipes)

    def failures(self) -> int:
        """Clients that failed or were closed by the server so far."""
        for pipe in self.pipes:
            pipe.send("count")
        return sum(int(pipe.recv()["failures"]) for pipe in self.pipes)

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
