"""Round trips to the stack as the services make them: object store and broker.

The pipeline's overhead is mostly a chain of such calls made one after the other, so their
latency on this machine, measured alone, says how much of the overhead each kind of call
explains. Object store: ``put_object``/``get_object`` with the minio client (as every
service calls it) on a bucket of the bench's own, removed afterwards. Broker: one awaited
send of the project's producer (idempotent, acks=all) to a topic of the bench's own,
deleted afterwards.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Callable

from minio.error import S3Error

from bench.stats import percentile
from services.common.kafka.admin import TopicSpec, admin_client, create_topics
from services.common.kafka.producer import create_producer
from services.common.s3 import minio_client
from services.common.settings import CommonSettings

ROUNDS = 20
SMALL = b"x" * 64
LARGE = bytes(512 * 1024)


def _timed(call: Callable[[], object], rounds: int) -> list[float]:
    durations = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        durations.append((time.perf_counter() - started) * 1000.0)
    return durations


def object_store(settings: CommonSettings, rounds: int = ROUNDS) -> dict[str, list[float]]:
    client = minio_client(settings.s3)
    bucket = f"clearcut-bench-{uuid.uuid4().hex[:8]}"
    client.make_bucket(bucket)
    try:

        def put(name: str, data: bytes) -> Callable[[], object]:
            return lambda: client.put_object(
                bucket, name, io.BytesIO(data), len(data), content_type="application/octet-stream"
            )

        def get(name: str) -> Callable[[], object]:
            def call() -> object:
                response = client.get_object(bucket, name)
                try:
                    return response.read()
                finally:
                    response.close()
                    response.release_conn()

            return call

        def missing() -> object:
            try:
                return client.get_object(bucket, "no-such-object")
            except S3Error:
                return None

        return {
            "object store: put 64 B": _timed(put("small", SMALL), rounds),
            "object store: put 512 KiB": _timed(put("large", LARGE), rounds),
            "object store: get 64 B": _timed(get("small"), rounds),
            "object store: get a missing object": _timed(missing, rounds),
        }
    finally:
        for name in ("small", "large"):
            client.remove_object(bucket, name)
        client.remove_bucket(bucket)


async def broker(settings: CommonSettings, rounds: int = ROUNDS) -> dict[str, list[float]]:
    topic = f"bench.roundtrip.{uuid.uuid4().hex[:8]}"
    await create_topics(settings.kafka, [TopicSpec(topic, 1, {"retention.ms": "60000"})])
    producer = create_producer(settings.kafka, "clearcut-bench")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up", key=b"k")
        durations = []
        for _ in range(rounds):
            started = time.perf_counter()
            await producer.send_and_wait(topic, bytes(1024), key=b"k")
            durations.append((time.perf_counter() - started) * 1000.0)
    finally:
        await producer.stop()
        admin = admin_client(settings.kafka)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
    return {"broker: send 1 KiB and wait for acks=all": durations}


async def measure(settings: CommonSettings) -> dict[str, list[float]]:
    found = await asyncio.to_thread(object_store, settings)
    found.update(await broker(settings))
    return found


def table_rows(samples: dict[str, list[float]]) -> list[list[object]]:
    return [
        [name, percentile(values, 50), percentile(values, 95), len(values)]
        for name, values in samples.items()
    ]
