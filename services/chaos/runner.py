"""One scenario end to end: burst, fault, mend, wait for every accepted image, count."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.chaos.burst import burst
from services.chaos.control import clearcut
from services.chaos.scenarios import Context, Scenario
from services.chaos.tally import Tally, TaskRow, settled, tally
from services.common.kafka.admin import describe_topics
from services.common.s3 import minio_client
from services.common.settings import CommonSettings

logger = logging.getLogger(__name__)

Say = Callable[[str], None]


async def task_rows(settings: CommonSettings, images: list[str]) -> list[TaskRow]:
    conn = await asyncpg.connect(settings.postgres.dsn, timeout=5)
    try:
        records = await conn.fetch(
            "SELECT image_id, id, status, error_reason FROM processing_tasks "
            "WHERE image_id = ANY($1::text[])",
            images,
        )
    finally:
        await conn.close()
    return [TaskRow(r["image_id"], r["id"], r["status"], r["error_reason"]) for r in records]


def stored_originals(settings: CommonSettings, owner: str, since: datetime) -> list[str]:
    """Image ids of the originals stored for ``owner`` since ``since``."""
    client = minio_client(settings.s3)
    found = client.list_objects(settings.s3.bucket_originals, prefix=f"{owner}/", recursive=True)
    return [
        str(o.object_name).split("/", 1)[1]
        for o in found
        if o.last_modified is not None and o.last_modified >= since and o.object_name
    ]


async def _consumer(settings: CommonSettings) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        client_id="clearcut-chaos",
    )
    await consumer.start()
    return consumer


async def completion_offsets(settings: CommonSettings) -> dict[TopicPartition, int]:
    """Where the completed topic ends now: the burst's completions come after."""
    topic = settings.topics.completed
    counts = await describe_topics(settings.kafka, [topic])
    if topic not in counts:
        raise RuntimeError(f"topic {topic} does not exist; run clearcut topics create")
    parts = [TopicPartition(topic, p) for p in range(counts[topic])]
    consumer = await _consumer(settings)
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        return ends
    finally:
        await consumer.stop()


async def completions_since(
    settings: CommonSettings, since: dict[TopicPartition, int]
) -> list[tuple[str, str]]:
    """(image id, task id) of every ProcessingCompleted after ``since``."""
    consumer = await _consumer(settings)
    try:
        consumer.assign(list(since))
        ends = await consumer.end_offsets(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        found: list[tuple[str, str]] = []
        deadline = time.monotonic() + 60
        while [tp for tp in since if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError("reading the completed topic took over 60 s")
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    data = json.loads(record.value or b"{}")
                    found.append((str(data.get("image_id")), str(data.get("task_id"))))
        return found
    finally:
        await consumer.stop()


async def run_scenario(
    scenario: Scenario,
    ctx: Context,
    *,
    api: str,
    key: str,
    owner: str,
    count: int,
    interval_s: float,
    settle_s: float,
    say: Say,
) -> Tally:
    settings = ctx.settings
    await scenario.setup(ctx)
    note = ""
    try:
        await clearcut("up", env=ctx.env)  # every service ready before the burst
        since = await completion_offsets(settings)
        # The store's clock and ours are the same machine's; a second of slack.
        burst_began = datetime.now(UTC) - timedelta(seconds=1)
        say(f"{scenario.name}: burst of {count} uploads, {interval_s:g} s apart")
        uploads = asyncio.create_task(
            burst(api, key, count, interval_s, retry_for_s=scenario.hold_s + 120)
        )
        await asyncio.sleep(count * interval_s / 3)
        try:
            say(f"{scenario.name}: {scenario.what}")
            began = time.monotonic()
            await scenario.inject(ctx)
            say(f"{scenario.name}: fault in effect ({time.monotonic() - began:.1f} s to inject)")
            await asyncio.sleep(scenario.hold_s)
        finally:
            began = time.monotonic()
            await scenario.recover(ctx)
            say(f"{scenario.name}: mended ({time.monotonic() - began:.1f} s to repair)")
        mended_at = time.monotonic()
        sent = await uploads
        say(f"{scenario.name}: {len(sent.accepted)} of {count} accepted; waiting for outcomes")
        rows: list[TaskRow] = []
        drain_s: float | None = None
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            try:
                rows = await task_rows(settings, sent.accepted)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                rows = []
            if settled(sent.accepted, rows):
                drain_s = time.monotonic() - mended_at
                break
            await asyncio.sleep(1.0)
        else:
            note = f"not every image finished within {settle_s:.0f} s of the repair"
        rows = await task_rows(settings, sent.accepted)
        completions = await completions_since(settings, since)
        stored = await asyncio.to_thread(stored_originals, settings, owner, burst_began)
    finally:
        await scenario.teardown(ctx)
    result = tally(
        scenario.name,
        sent.uploads,
        sent.accepted,
        rows,
        completions,
        sent.statuses,
        sent.bad,
    )
    result.orphans = sorted(set(stored) - set(sent.accepted))
    result.drain_s = drain_s
    refused = sum(sent.refused.values())
    if refused:
        note = "; ".join(filter(None, [note, f"{refused} never accepted: {dict(sent.refused)}"]))
    result.note = note
    return result
