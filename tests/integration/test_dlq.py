"""``clearcut dlq`` against the real broker: a record dead-lettered because of a bug in its
consumer is listed, shown, redriven once the bug is fixed, and applied exactly once, even when
it is redriven twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.envelope import EventEnvelope
from services.common.kafka.consumer import EventConsumer, consumer_config
from services.common.kafka.producer import EventPublisher
from services.common.settings import CommonSettings, TopicNames
from tests.integration.conftest import poll_until, uploaded_event


def clearcut(topics: TopicNames, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLEARCUT_TOPIC_PREFIX": topics.prefix, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "dlq", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_a_dead_letter_is_listed_shown_and_redriven_into_one_effect(
    stack: CommonSettings, topics: TopicNames, producer: AIOKafkaProducer, unique: str
) -> None:
    event = uploaded_event()
    await EventPublisher(producer, topics, "/clearcut/tests").publish(event)
    await producer.send_and_wait(topics.uploaded, b"not an event", key=b"k")

    fixed = False
    applied: dict[str, int] = {}  # event id -> times its effect was applied (idempotent)
    calls: list[str] = []

    async def handler(envelope: EventEnvelope) -> None:
        calls.append(envelope.id)
        if not fixed:
            raise KeyError("a bug in this consumer")
        applied.setdefault(envelope.id, 1)

    group = f"tests-{unique}"
    consumer = AIOKafkaConsumer(
        topics.uploaded, **consumer_config(stack.kafka, group, "clearcut-tests")
    )
    await consumer.start()
    runner = EventConsumer(consumer, producer, topics, handler, group_id=group)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        assert await poll_until(lambda: runner.dead_lettered == 2)
        dlq = topics.dlq(topics.uploaded)

        listed = await asyncio.to_thread(clearcut, topics, "list", topics.uploaded)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert f"{dlq}  2 records" in listed.stdout
        assert "handler_error 1" in listed.stdout and "envelope_invalid 1" in listed.stdout
        assert f"{dlq}:0:0" in listed.stdout and "KeyError" in listed.stdout

        shown = await asyncio.to_thread(clearcut, topics, "show", f"{dlq}:0:0")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "dlq_reason: handler_error" in shown.stdout
        assert event.image_id in shown.stdout  # the value, as JSON
        missing = await asyncio.to_thread(clearcut, topics, "show", f"{dlq}:0:99")
        assert missing.returncode == 1 and f"no record {dlq}:0:99" in missing.stdout

        preview = await asyncio.to_thread(
            clearcut, topics, "redrive", "--reason", "handler_error", "--dry-run"
        )
        assert preview.returncode == 0, preview.stdout + preview.stderr
        assert "1 records would be sent back" in preview.stdout
        await asyncio.sleep(2)
        assert calls == [event.event_id], "a dry run sent something"

        fixed = True
        for _ in range(2):  # the second redrive must change nothing
            sent = await asyncio.to_thread(clearcut, topics, "redrive", "--reason", "handler_error")
            assert sent.returncode == 0, sent.stdout + sent.stderr
            assert "sent back 1 records" in sent.stdout
        assert await poll_until(lambda: len(calls) == 3)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await consumer.stop()
    assert applied == {event.event_id: 1}
    assert calls == [event.event_id] * 3
    assert runner.dead_lettered == 2  # nothing dead-lettered again
