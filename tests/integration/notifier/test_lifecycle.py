"""A notifier process over its life: new partitions while it runs, and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import websockets
from aiokafka.admin import NewPartitions

from services.common.envelope import encode
from services.common.kafka.admin import admin_client, create_topics, describe_topics, project_topics
from services.common.kafka.producer import create_producer
from services.common.settings import CommonSettings, TopicNames
from tests.integration.notifier.conftest import (
    Owner,
    ReadModelRows,
    connect_ready,
    start_notifier,
)
from tests.unit.notifier import factory as ev


async def test_new_partitions_are_picked_up_from_their_beginning(
    stack: CommonSettings,
    make_owner: Callable[[], Awaitable[Owner]],
    pg: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    topics = TopicNames(prefix=f"test.notifier.{uuid.uuid4().hex[:10]}.", partitions=1)
    await create_topics(stack.kafka, project_topics(topics))
    notifier = await start_notifier(
        topics, tmp_path / "notifier.log", partition_refresh_seconds=0.5
    )
    try:
        owner = await make_owner()
        client = await connect_ready(notifier, owner.key)
        await client.send({"type": "subscribe", "all": True})
        await client.expect_type("snapshot")

        admin = admin_client(stack.kafka)
        await admin.start()
        try:
            await admin.create_partitions({topics.completed: NewPartitions(total_count=2)})
        finally:
            await admin.close()
        deadline = time.monotonic() + 30
        while (await describe_topics(stack.kafka, [topics.completed]))[topics.completed] < 2:
            assert time.monotonic() < deadline, "the partition was not added"
            await asyncio.sleep(0.1)

        # Produced to the new partition before the notifier can have looked at it.
        event = ev.completed(f"img-{uuid.uuid4().hex[:12]}", owner.name, at=datetime.now(UTC))
        record = encode(event, "/clearcut/processor")
        producer = create_producer(stack.kafka, "clearcut-notifier-tests")
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.completed,
                record.value,
                key=record.key,
                headers=record.headers,
                partition=1,
            )
        finally:
            await producer.stop()
        await ReadModelRows(pg).apply(event, uploaded=True)  # as the projector would
        (received,) = await client.wait_events(1)
        assert received["id"] == event.event_id
        await client.close()
    finally:
        await notifier.stop()


async def test_shutting_down_closes_every_client_with_going_away(
    stack: CommonSettings,
    make_owner: Callable[[], Awaitable[Owner]],
    tmp_path: Path,
) -> None:
    topics = TopicNames(prefix=f"test.notifier.{uuid.uuid4().hex[:10]}.", partitions=1)
    await create_topics(stack.kafka, project_topics(topics))
    notifier = await start_notifier(topics, tmp_path / "notifier.log")
    owner = await make_owner()
    clients = [await connect_ready(notifier, owner.key) for _ in range(3)]
    await notifier.stop()
    assert notifier.process.returncode == 0
    for client in clients:
        with contextlib.suppress(websockets.ConnectionClosed):
            await asyncio.wait_for(client.connection.recv(), 10)
        assert client.connection.close_code == 1001
        assert client.connection.close_reason == "server shutting down"
