"""Events reach the right clients, in order, without gaps, over real websockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

from services.common.kafka.producer import EventPublisher, create_producer
from services.common.settings import CommonSettings, TopicNames
from services.common.telemetry import Telemetry
from tests.integration.conftest import uploaded_event
from tests.integration.notifier.conftest import (
    UPLOAD_URL,
    NotifierProcess,
    Owner,
    ProjectedPublisher,
    PushedEvent,
    ReadModelRows,
    WsClient,
    connect_ready,
    record_applied,
    start_notifier,
)
from tests.unit.notifier import factory as ev

STARTED = "io.clearcut.image.processing.started.v1"
COMPLETED = "io.clearcut.image.processing.completed.v1"
FAILED = "io.clearcut.image.processing.failed.v1"
MakeOwner = Callable[[], Awaitable[Owner]]


def now() -> datetime:
    return datetime.now(UTC)


def new_image() -> tuple[str, str]:
    return f"img-{uuid.uuid4().hex[:12]}", f"task-{uuid.uuid4().hex[:12]}"


def result_links(image_id: str) -> dict[str, str]:
    return {
        "status": f"{UPLOAD_URL}/v1/images/{image_id}",
        "cutout": f"{UPLOAD_URL}/v1/images/{image_id}/result?kind=cutout",
        "mask": f"{UPLOAD_URL}/v1/images/{image_id}/result?kind=mask",
    }


async def test_a_subscriber_learns_start_then_outcome_of_each_concurrent_upload(
    notifier: NotifierProcess,
    publisher: EventPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    client = await connect_ready(notifier, owner.key)
    await client.send({"type": "subscribe", "all": True, "request_id": "everything"})
    snapshot = await client.expect_type("snapshot")
    assert snapshot == {
        "type": "snapshot",
        "scope": "all",
        "images": [],
        "truncated": False,
        "request_id": "everything",
    }

    images = dict(new_image() for _ in range(4))
    await asyncio.gather(*(rows.uploaded(i, owner.name, t) for i, t in images.items()))
    await asyncio.gather(
        *(publisher.publish(ev.started(i, owner.name, t, at=now())) for i, t in images.items())
    )
    completions = {i: ev.completed(i, owner.name, t, at=now()) for i, t in images.items()}
    await asyncio.gather(*(publisher.publish(e) for e in completions.values()))

    broken, broken_task = new_image()
    await rows.uploaded(broken, owner.name, broken_task)
    await publisher.publish(ev.started(broken, owner.name, broken_task, at=now()))
    failure = ev.failed(broken, owner.name, broken_task, at=now())
    await publisher.publish(failure)

    await client.wait_events(2 * len(images) + 2)
    failed = client.events(broken)
    assert [e["type"] for e in failed] == [STARTED, FAILED]
    assert failed[1]["data"]["reason"] == failure.reason.value
    for image_id, event in completions.items():
        received = client.events(image_id)
        assert [e["type"] for e in received] == [STARTED, COMPLETED]
        assert received[1]["id"] == event.event_id
        # The event as produced, less what only the pipeline may see.
        expected = event.model_dump(mode="json", exclude={"worker_id", "reused_from_task_id"})
        for result in expected["results"]:
            del result["bucket"], result["key"]
        assert received[1]["data"] == expected
        message = next(
            m for m in client.received if m["type"] == "event" and m["event"] is received[1]
        )
        assert message["links"] == result_links(image_id)
    await client.close()


async def test_subscribing_after_completion_gets_a_completed_snapshot_with_links(
    notifier: NotifierProcess,
    publisher: EventPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    image_id, task_id = new_image()
    await rows.uploaded(image_id, owner.name, task_id)
    life: list[PushedEvent] = [
        ev.started(image_id, owner.name, task_id, at=now()),
        ev.completed(image_id, owner.name, task_id, at=now()),
    ]
    for event in life:
        await publisher.publish(event)
        await rows.apply(event)

    client = await connect_ready(notifier, owner.key)
    await client.send({"type": "subscribe", "images": [image_id], "request_id": "late"})
    snapshot = await client.expect_type("snapshot")
    (image,) = snapshot["images"]
    assert image["status"] == "completed"
    assert image["task_id"] == task_id and image["attempt"] == 1
    assert image["links"] == result_links(image_id)
    assert {r["kind"]: r["url"] for r in image["results"]} == {
        "cutout": result_links(image_id)["cutout"],
        "mask": result_links(image_id)["mask"],
    }
    # What the snapshot already told is not sent again, however late the feed is.
    await client.roundtrip()
    assert client.events() == []
    await client.close()


async def test_a_completion_is_pushed_only_once_the_read_model_has_it(
    notifier: NotifierProcess,
    publisher: ProjectedPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    image_id, task_id = new_image()
    await rows.uploaded(image_id, owner.name, task_id)
    first = await connect_ready(notifier, owner.key)
    await first.send({"type": "subscribe", "images": [image_id]})
    assert (await first.expect_type("snapshot"))["images"][0]["status"] == "queued"
    await publisher.publish(ev.started(image_id, owner.name, task_id, at=now()))
    assert [e["type"] for e in await first.wait_events(1)] == [STARTED]

    # Completed is on Kafka and consumed, but the projector has not applied it yet.
    held = await notifier.metric("notifier_held_events")
    completed = ev.completed(image_id, owner.name, task_id, at=now())
    await publisher.publish_only(completed)
    deadline = time.monotonic() + 15
    while await notifier.metric("notifier_held_events") <= held:
        assert time.monotonic() < deadline, "the notifier did not hold the completion"
        await asyncio.sleep(0.05)
    await first.roundtrip()
    assert [e["type"] for e in first.events()] == [STARTED]
    # A client arriving now sees what the read model says: still processing.
    second = await connect_ready(notifier, owner.key)
    await second.send({"type": "subscribe", "images": [image_id]})
    (image,) = (await second.expect_type("snapshot"))["images"]
    assert image["status"] == "processing"
    await first.close()

    # The projector applies it: pushed at once, and a reconnect finds it in the snapshot.
    await rows.apply(completed)
    (pushed,) = await second.wait_events(1)
    assert pushed["type"] == COMPLETED and pushed["id"] == completed.event_id
    assert second.received[-1]["links"] == result_links(image_id)
    third = await connect_ready(notifier, owner.key)
    await third.send({"type": "subscribe", "images": [image_id]})
    (image,) = (await third.expect_type("snapshot"))["images"]
    assert image["status"] == "completed"
    assert image["links"] == result_links(image_id)
    assert image["task_id"] == task_id
    await third.roundtrip()
    assert third.events() == []
    await second.close()
    await third.close()


async def test_an_owner_receives_nothing_of_another_owners_images(
    notifier: NotifierProcess,
    publisher: EventPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    alice, bob = await make_owner(), await make_owner()
    image_id, task_id = new_image()
    await rows.uploaded(image_id, alice.name, task_id)
    alices = await connect_ready(notifier, alice.key)
    bobs = await connect_ready(notifier, bob.key)
    await alices.send({"type": "subscribe", "all": True})
    await alices.expect_type("snapshot")
    await bobs.send({"type": "subscribe", "all": True})
    assert (await bobs.expect_type("snapshot"))["images"] == []
    await bobs.send({"type": "subscribe", "images": [image_id]})
    error = await bobs.expect_type("error")
    assert error["code"] == "unknown_image" and error["image_id"] == image_id

    for event in (
        ev.started(image_id, alice.name, task_id, at=now()),
        ev.completed(image_id, alice.name, task_id, at=now()),
    ):
        await publisher.publish(event)
    assert len(await alices.wait_events(2)) == 2
    # Alice's events were queued for every recipient at once; Bob's queue holds none.
    received = await bobs.roundtrip()
    assert [m for m in received if m["type"] == "event"] == []
    assert all(image_id not in str(m.get("images", "")) for m in received)
    await alices.close()
    await bobs.close()


async def test_two_notifier_processes_both_deliver_to_their_own_clients(
    notifier: NotifierProcess,
    second_notifier: NotifierProcess,
    publisher: EventPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    image_id, task_id = new_image()
    await rows.uploaded(image_id, owner.name, task_id)
    clients = [
        await connect_ready(notifier, owner.key),
        await connect_ready(second_notifier, owner.key),
    ]
    for client in clients:
        await client.send({"type": "subscribe", "images": [image_id]})
        await client.expect_type("snapshot")
    events = [
        ev.started(image_id, owner.name, task_id, at=now()),
        ev.completed(image_id, owner.name, task_id, at=now()),
    ]
    for event in events:
        await publisher.publish(event)
    for client in clients:
        received = await client.wait_events(2)
        assert [e["id"] for e in received] == [e.event_id for e in events]
        await client.close()


async def test_a_client_that_never_reads_does_not_delay_a_reading_client(
    notifier: NotifierProcess, publisher: EventPublisher, make_owner: MakeOwner
) -> None:
    owner = await make_owner()
    reader = await connect_ready(notifier, owner.key)
    await reader.send({"type": "subscribe", "all": True})
    await reader.expect_type("snapshot")
    # The stalled client: a tiny receive buffer and a client library that stops reading
    # from the socket as soon as one message is waiting.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", notifier.port))
    sock.setblocking(False)
    stalled = WsClient(
        await websockets.connect(
            notifier.ws_url,
            sock=sock,
            additional_headers={"Authorization": f"Bearer {owner.key}"},
            max_queue=1,
        )
    )
    await stalled.send({"type": "subscribe", "all": True})
    await reader.roundtrip()  # the stalled client's subscription is in place by now

    dropped_before = await notifier.metric("notifier_dropped_clients_total")
    sent = 0

    async def read_all(count: int) -> None:
        while len(reader.events()) < count:
            await reader.wait_events(len(reader.events()) + 1)

    while await notifier.metric("notifier_dropped_clients_total") == dropped_before:
        assert sent < 3000, "the stalled client was never disconnected"
        batch = [
            ev.completed(f"img-{uuid.uuid4().hex[:12]}", owner.name, at=now()) for _ in range(100)
        ]
        await asyncio.gather(*(publisher.publish(e) for e in batch))
        sent += len(batch)
        await read_all(sent)

    # Every event reached the reading client, batch after batch, while the other one
    # stalled: each batch was read in full before the next was sent, so a blocked push
    # would have stopped the loop. (Delays are measured by the fan-out bench, not here.)
    assert len(reader.events()) == sent
    # The stalled client, once it reads again, finds the reason it was dropped.
    with contextlib.suppress(websockets.ConnectionClosedError):
        async for _ in stalled.connection:
            pass
    assert stalled.connection.close_code == 1013
    assert "queue full" in (stalled.connection.close_reason or "")
    await reader.close()


async def test_each_push_continues_the_events_trace(
    stack: CommonSettings,
    notifier: NotifierProcess,
    notifier_topics: TopicNames,
    publisher: EventPublisher,
    telemetry: Telemetry,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    client = await connect_ready(notifier, owner.key)
    await client.send({"type": "subscribe", "all": True})
    await client.expect_type("snapshot")
    image_id, task_id = new_image()
    tracer = telemetry.tracer("tests.notifier")
    with tracer.start_as_current_span("processor-stand-in") as root:
        await publisher.publish(ev.started(image_id, owner.name, task_id, at=now()))
    trace_id = format(root.get_span_context().trace_id, "032x")
    await client.wait_events(1)
    telemetry.tracer_provider.force_flush()

    operation = f"{notifier_topics.started} process"
    pushes: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=stack.telemetry.query_url) as http:
        while time.monotonic() < deadline:
            response = await http.get(f"/api/traces/{trace_id}")
            if response.status_code == 200 and response.json()["data"]:
                data = response.json()["data"][0]
                services = {k: p["serviceName"] for k, p in data["processes"].items()}
                pushes = [
                    {t["key"]: t["value"] for t in span["tags"]}
                    for span in data["spans"]
                    if span["operationName"] == operation
                    and services[span["processID"]] == "notifier"
                ]
                # Every notifier process pushes (to no one when it has no subscriber).
                if any(tags["clearcut.notifier.recipients"] == 1 for tags in pushes):
                    break
            await asyncio.sleep(0.5)
    assert pushes, "no notifier span in the event's trace"
    ours = [tags for tags in pushes if tags["clearcut.notifier.recipients"] == 1]
    assert len(ours) == 1, pushes
    assert ours[0]["clearcut.image_id"] == image_id
    await client.close()


async def test_invalid_records_are_skipped_and_later_events_still_arrive(
    notifier: NotifierProcess,
    notifier_topics: TopicNames,
    publisher: EventPublisher,
    stack: CommonSettings,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    client = await connect_ready(notifier, owner.key)
    await client.send({"type": "subscribe", "all": True})
    await client.expect_type("snapshot")
    before = await notifier.metric("notifier_invalid_records_total", reason="envelope_invalid")
    producer = create_producer(stack.kafka, "clearcut-notifier-tests")
    await producer.start()
    try:
        await producer.send_and_wait(notifier_topics.started, b"\x89PNG not json", key=b"x")
    finally:
        await producer.stop()
    image_id, task_id = new_image()
    event = ev.started(image_id, owner.name, task_id, at=now())
    await publisher.publish(event)
    (received,) = await client.wait_events(1)
    assert received["id"] == event.event_id
    after = await notifier.metric("notifier_invalid_records_total", reason="envelope_invalid")
    assert after == before + 1
    await client.close()


async def test_an_id_projected_during_the_grace_period_is_answered_on_its_announcement(
    tmp_path: Path,
    notifier_topics: TopicNames,
    pg: asyncpg.Pool,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    # A long grace period: an answer well within it comes from the announcement.
    patient = await start_notifier(
        notifier_topics, tmp_path / "patient.log", unknown_image_grace_seconds=30
    )
    try:
        owner = await make_owner()
        image_id, task_id = new_image()
        client = await connect_ready(patient, owner.key)
        asked = time.monotonic()
        await client.send({"type": "subscribe", "images": [image_id], "request_id": "late"})
        await asyncio.sleep(0.5)
        await rows.uploaded(image_id, owner.name, task_id)
        upload = uploaded_event().model_copy(update={"image_id": image_id, "owner": owner.name})
        async with pg.acquire() as conn, conn.transaction():
            assert await record_applied(conn, upload)
        snapshot = await client.expect(lambda m: m.get("request_id") == "late", within=10)
        assert snapshot["type"] == "snapshot"
        assert snapshot["images"][0]["status"] == "queued"
        assert time.monotonic() - asked < 10
        await client.close()
    finally:
        await patient.stop()
