"""PostgreSQL stays down for longer than the consumer group lets a member go without polling:
the projector keeps polling with its partitions paused, stays in the group, and catches up
by itself once the database is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.common.kafka.producer import EventPublisher
from services.common.settings import CommonSettings, TopicNames
from services.upload.adapters.postgres import connect
from services.upload.projector.runner import run_projector
from services.upload.settings import UploadSettings
from tests.integration.conftest import group_member_count, stack_command
from tests.integration.upload.test_projector import ids, rows
from tests.unit.upload import events as ev

pytestmark = [pytest.mark.disruptive, pytest.mark.timeout(600)]

MAX_POLL_INTERVAL_MS = 6_000
OUTAGE_S = 3 * MAX_POLL_INTERVAL_MS / 1000


async def _status(stack: CommonSettings, image_id: str) -> str | None:
    conn = await connect(stack.postgres)
    try:
        state = await rows(conn, image_id)
    finally:
        await conn.close()
    image = state["image"]
    return None if image is None else str(image["status"])


async def _until(
    check: Callable[[], Awaitable[bool]], within: float, runner: asyncio.Task[None]
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if runner.done():
            runner.result()
            raise AssertionError("the projector stopped")
        if await check():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not reached within {within} s")


async def test_a_database_outage_longer_than_the_poll_interval_is_waited_out(
    stack: CommonSettings,
    upload_topics: TopicNames,
    producer: AIOKafkaProducer,
    pg_pool: asyncpg.Pool,
) -> None:
    kafka = stack.kafka.model_copy(update={"max_poll_interval_ms": MAX_POLL_INTERVAL_MS})
    common = stack.model_copy(update={"topics": upload_topics, "kafka": kafka})
    group = f"tests-projector-outage-{uuid.uuid4().hex[:8]}"
    settings = UploadSettings(projector_group=group)
    publisher = EventPublisher(producer, upload_topics, "/clearcut/tests")
    before, during = ids(), ids()

    stop = asyncio.Event()
    runner = asyncio.create_task(run_projector(settings, common, stop))
    try:
        await publisher.publish(ev.uploaded(*before))

        async def before_projected() -> bool:
            return await _status(stack, before[0]) == "queued"

        await _until(before_projected, 60, runner)

        stack_command("down", "postgres")
        try:
            for event in (ev.uploaded(*during), ev.started(*during), ev.completed(*during)):
                await publisher.publish(event)
            await asyncio.sleep(OUTAGE_S)
            assert not runner.done(), "the projector gave up during the outage"
            # Still a member: it kept polling although its handler could not finish.
            assert await group_member_count(stack, group) == 1
        finally:
            stack_command("up", "postgres")

        async def during_projected() -> bool:
            try:
                return await _status(stack, during[0]) == "completed"
            except (OSError, asyncpg.PostgresError):
                return False

        await _until(during_projected, 120, runner)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 30)
