"""Throw-away owners and topics for a fan-out run, and the events it produces."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.pipeline import REPO
from schemas import ProcessingStarted
from services.common.auth import generate_key, hash_key
from services.common.kafka.admin import admin_client, create_topics, project_topics
from services.common.kafka.producer import EventPublisher, create_producer
from services.common.read_api import APPLIED_CHANNEL, applied_payload
from services.common.settings import CommonSettings, TopicNames

EXAMPLE = json.loads((REPO / "schemas" / "examples" / "ProcessingStarted.json").read_text())


def owner_prefix(tag: str) -> str:
    return f"bench-{tag}-"


async def make_topics(settings: CommonSettings, topics: TopicNames) -> None:
    await create_topics(settings.kafka, project_topics(topics))


async def make_owners(settings: CommonSettings, count: int, tag: str) -> list[tuple[str, str]]:
    """``count`` owners with one fresh API key each: (owner, key)."""
    owners = [(f"{owner_prefix(tag)}{n}", generate_key()) for n in range(count)]
    conn = await asyncpg.connect(settings.postgres.dsn)
    try:
        await conn.executemany(
            "INSERT INTO api_keys (key_sha256, owner) VALUES ($1, $2)",
            [(hash_key(key), owner) for owner, key in owners],
        )
    finally:
        await conn.close()
    return owners


async def clean_up(settings: CommonSettings, tag: str, topics: TopicNames) -> None:
    """Delete the run's keys and topics."""
    conn = await asyncpg.connect(settings.postgres.dsn)
    try:
        owners = f"{owner_prefix(tag)}%"
        await conn.execute(
            "DELETE FROM applied_events WHERE image_id IN "
            "(SELECT id FROM images WHERE owner LIKE $1)",
            owners,
        )
        await conn.execute("DELETE FROM images WHERE owner LIKE $1", owners)
        await conn.execute("DELETE FROM api_keys WHERE owner LIKE $1", owners)
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


_IMAGE = """
INSERT INTO images (id, owner, original_bucket, original_key, content_type, size_bytes, width,
    height, sha256, status, current_task_id, current_task_requested_at, uploaded_at,
    created_at, updated_at)
VALUES ($1, $2, 'bench', $1, 'image/jpeg', 1, 1, 1, '', 'processing', $3, $4, $4, $4, $4)
"""
_APPLIED = (
    "INSERT INTO applied_events (event_id, event_type, image_id, occurred_at) "
    "VALUES ($1, 'io.clearcut.image.processing.started.v1', $2, $3)"
)


async def apply_as_projector(pool: asyncpg.Pool, event: ProcessingStarted) -> None:
    """What the projector does for the event, in one transaction: the image's row, the
    applied-event record and its announcement (the notifier pushes only applied events)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_IMAGE, event.image_id, event.owner, event.task_id, event.occurred_at)
        await conn.execute(_APPLIED, event.event_id, event.image_id, event.occurred_at)
        await conn.execute(
            "SELECT pg_notify($1, $2)",
            APPLIED_CHANNEL,
            applied_payload(event.event_id, event.image_id),
        )


async def produce(
    settings: CommonSettings, topics: TopicNames, owners: list[str], rate: float, duration: float
) -> int:
    """ProcessingStarted events at ``rate`` per second for ``duration`` s, owners in turn;
    each event's time is set just before it is handed to the producer, and each is applied
    as the projector would once it is on Kafka."""
    producer = create_producer(settings.kafka, "clearcut-bench")
    await producer.start()
    publisher = EventPublisher(producer, topics, source="/clearcut/bench")
    pool = await asyncpg.create_pool(settings.postgres.dsn, min_size=1, max_size=8)

    async def publish_and_apply(event: ProcessingStarted) -> None:
        await publisher.publish(event)
        await apply_as_projector(pool, event)

    pending: set[asyncio.Task[Any]] = set()
    sent = 0
    try:
        start = time.monotonic()
        total = max(1, int(rate * duration))
        for n in range(total):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            task = asyncio.create_task(publish_and_apply(started_event(owners[n % len(owners)])))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
        await pool.close()
    return sent
