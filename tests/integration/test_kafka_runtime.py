"""The shared Kafka runtime against the real broker: envelope, dead letters, trace context."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from opentelemetry import trace

from schemas import ImageUploaded
from services.common.envelope import EventEnvelope, decode, encode
from services.common.kafka.consumer import EventConsumer, consumer_config
from services.common.kafka.producer import EventPublisher
from services.common.settings import CommonSettings, TopicNames
from services.common.telemetry import Telemetry
from tests.integration.conftest import group_member_count, poll_until, uploaded_event


async def _read_all(
    stack: CommonSettings, topic: str, count: int
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        **consumer_config(stack.kafka, None, "clearcut-tests", offset_reset="earliest"),
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def test_cloudevent_survives_a_real_topic_with_all_headers(
    stack: CommonSettings, topics: TopicNames, producer: AIOKafkaProducer
) -> None:
    event = uploaded_event()
    publisher = EventPublisher(producer, topics, source="/clearcut/tests")
    sent = encode(event, "/clearcut/tests")
    await publisher.publish(event)

    (record,) = await _read_all(stack, topics.uploaded, 1)
    received = dict(record.headers)
    for key, value in sent.headers:
        assert received[key] == value, f"header {key} changed in transit"
    assert received["ce_subject"] == event.image_id.encode()
    assert received["content-type"] == b"application/json"
    assert record.key == event.image_id.encode()
    envelope = decode(record.value, list(record.headers))
    assert envelope.event == event
    assert envelope.id == event.event_id
    assert envelope.type == "io.clearcut.image.uploaded.v1"


async def test_malformed_messages_go_to_the_dead_letter_topic_and_consumption_goes_on(
    stack: CommonSettings, topics: TopicNames, producer: AIOKafkaProducer, unique: str
) -> None:
    first, last = uploaded_event(), uploaded_event()
    good = encode(first, "/clearcut/tests")
    schema_invalid = json.loads(good.value)
    schema_invalid["original"]["size"] = "large"
    unknown_type = [
        (k, b"io.clearcut.image.teleported.v1" if k == "ce_type" else v) for k, v in good.headers
    ]
    bad_messages = [
        (b"\x89PNG not json at all", good.headers, "undecodable"),
        (json.dumps(schema_invalid).encode(), good.headers, "schema_invalid"),
        (good.value, unknown_type, "unknown_type"),
    ]
    publisher = EventPublisher(producer, topics, source="/clearcut/tests")
    await publisher.publish(first)
    for value, headers, _ in bad_messages:
        await producer.send_and_wait(topics.uploaded, value, key=b"k", headers=list(headers))
    await publisher.publish(last)

    handled: list[EventEnvelope] = []

    async def handler(envelope: EventEnvelope) -> None:
        handled.append(envelope)

    group = f"tests-{unique}"
    consumer = AIOKafkaConsumer(
        topics.uploaded, **consumer_config(stack.kafka, group, "clearcut-tests")
    )
    await consumer.start()
    runner = EventConsumer(consumer, producer, topics, handler, group_id=group)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await poll_until(lambda: (runner.handled, runner.dead_lettered) == (2, 3))
        stop.set()
        await asyncio.wait_for(task, 10)
        committed = await consumer.committed(TopicPartition(topics.uploaded, 0))
    finally:
        await consumer.stop()

    assert [e.event.event_id for e in handled] == [first.event_id, last.event_id]
    assert committed == 5

    dead = await _read_all(stack, topics.dlq(topics.uploaded), 3)
    assert len(dead) == 3
    for record, (value, _, reason) in zip(dead, bad_messages, strict=True):
        dlq = dict(record.headers)
        assert record.value == value, "the dead letter must carry the original bytes"
        assert record.key == b"k"
        assert dlq["dlq_reason"] == reason.encode()
        assert dlq["dlq_original_topic"] == topics.uploaded.encode()
        assert dlq["dlq_original_partition"] == b"0"
        assert int(dlq["dlq_original_offset"]) in (1, 2, 3)
        assert dlq["dlq_error"], "the reason must be explained"
        assert dlq["dlq_failed_at"]
        assert dlq["dlq_consumer_group"] == group.encode()
    schema_headers = dict(dead[1].headers)
    assert b"original.size" in schema_headers["dlq_error"] + schema_headers.get("dlq_field", b"")


async def test_trace_started_before_producing_continues_in_the_consumer(
    stack: CommonSettings,
    topics: TopicNames,
    producer: AIOKafkaProducer,
    telemetry: Telemetry,
    unique: str,
) -> None:
    tracer = telemetry.tracer("tests")
    publisher = EventPublisher(producer, topics, source="/clearcut/tests")
    event = uploaded_event()
    with tracer.start_as_current_span(f"upload-{unique}") as root:
        trace_id = root.get_span_context().trace_id
        await publisher.publish(event)

    seen: list[tuple[int, int]] = []

    async def handler(envelope: EventEnvelope) -> None:
        ctx = trace.get_current_span().get_span_context()
        seen.append((ctx.trace_id, ctx.span_id))

    group = f"tests-{unique}"
    consumer = AIOKafkaConsumer(
        topics.uploaded, **consumer_config(stack.kafka, group, "clearcut-tests")
    )
    await consumer.start()
    runner = EventConsumer(consumer, producer, topics, handler, group_id=group, tracer=tracer)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await poll_until(lambda: bool(seen))
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await consumer.stop()
    assert seen and seen[0][0] == trace_id, "the consumer did not continue the producer's trace"

    telemetry.tracer_provider.force_flush()
    hex_id = format(trace_id, "032x")
    spans: dict[str, dict] = {}  # type: ignore[type-arg]
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=stack.telemetry.query_url) as client:
        while time.monotonic() < deadline:
            r = await client.get(f"/api/traces/{hex_id}")
            if r.status_code == 200 and r.json()["data"]:
                spans = {s["operationName"]: s for s in r.json()["data"][0]["spans"]}
                if f"{topics.uploaded} process" in spans:
                    break
            await asyncio.sleep(0.5)
    root_span = spans[f"upload-{unique}"]
    send_span = spans[f"{topics.uploaded} send"]
    process_span = spans[f"{topics.uploaded} process"]
    assert process_span["spanID"] == format(seen[0][1], "016x")

    def parent(span: dict) -> str | None:  # type: ignore[type-arg]
        refs = [r for r in span["references"] if r["refType"] == "CHILD_OF"]
        return refs[0]["spanID"] if refs else None

    assert parent(send_span) == root_span["spanID"]
    assert parent(process_span) == send_span["spanID"]
    assert {s["traceID"] for s in spans.values()} == {hex_id}
    assert isinstance(event, ImageUploaded)
    assert uuid.UUID(event.event_id)


class _StillDown(Exception):
    retriable = True


async def test_a_handler_waiting_longer_than_the_poll_interval_keeps_its_member_in_the_group(
    stack: CommonSettings, topics: TopicNames, producer: AIOKafkaProducer, unique: str
) -> None:
    """A member that goes ``max_poll_interval_ms`` without polling leaves its group (and its
    partitions go to another member); the consumer polls, paused, while its handler waits."""
    interval_ms = 2_000
    first, second = uploaded_event(), uploaded_event()
    publisher = EventPublisher(producer, topics, source="/clearcut/tests")
    await publisher.publish(first)
    await publisher.publish(second)

    recovered = asyncio.Event()
    calls: list[str] = []

    async def handler(envelope: EventEnvelope) -> None:
        calls.append(envelope.id)
        if not recovered.is_set():
            raise _StillDown("the database is still down")

    group = f"tests-{unique}"
    kafka = stack.kafka.model_copy(update={"max_poll_interval_ms": interval_ms})
    consumer = AIOKafkaConsumer(topics.uploaded, **consumer_config(kafka, group, "clearcut-tests"))
    await consumer.start()
    runner = EventConsumer(
        consumer, producer, topics, handler, group_id=group, max_retry_wait=0.5, keepalive_s=0.2
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        assert await poll_until(lambda: len(calls) >= 1)
        await asyncio.sleep(3 * interval_ms / 1000)  # the outage, three poll intervals long
        assert await group_member_count(stack, group) == 1, "the waiting consumer left its group"
        recovered.set()
        assert await poll_until(lambda: runner.handled == 2)
        tp = TopicPartition(topics.uploaded, 0)
        assert await poll_until_committed(consumer, tp, 2)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await consumer.stop()
    assert calls.count(first.event_id) > 1 and calls.count(second.event_id) == 1
    assert runner.dead_lettered == 0


async def poll_until_committed(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bool:
    for _ in range(100):
        if await consumer.committed(tp) == offset:
            return True
        await asyncio.sleep(0.1)
    return False
