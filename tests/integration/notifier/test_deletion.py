"""A deletion reaches the image's subscribers over a real websocket, then the notifier
forgets the image: later events of it reach no one, and it cannot be subscribed to."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.common.kafka.producer import EventPublisher
from tests.integration.notifier.conftest import NotifierProcess, Owner, ReadModelRows, connect_ready
from tests.unit.notifier import factory as ev

DELETED = "io.clearcut.image.deleted.v1"
COMPLETED = "io.clearcut.image.processing.completed.v1"
MakeOwner = Callable[[], Awaitable[Owner]]


async def test_subscribers_are_told_of_a_deletion_and_hear_nothing_more_of_the_image(
    notifier: NotifierProcess,
    publisher: EventPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    image_id, task_id = f"img-{uuid.uuid4().hex[:12]}", f"task-{uuid.uuid4().hex[:12]}"
    other_id, other_task = f"img-{uuid.uuid4().hex[:12]}", f"task-{uuid.uuid4().hex[:12]}"
    await rows.uploaded(image_id, owner.name, task_id)
    await rows.uploaded(other_id, owner.name, other_task)
    client = await connect_ready(notifier, owner.key)
    await client.send({"type": "subscribe", "images": [image_id, other_id]})
    await client.expect_type("snapshot")

    deletion = ev.deleted(image_id, owner.name)
    deletion = deletion.model_copy(update={"occurred_at": datetime.now(UTC)})
    await publisher.publish(deletion)
    (told,) = await client.wait_events(1)
    assert (told["type"], told["subject"]) == (DELETED, image_id)
    assert told["data"]["deleted_by"] == owner.name

    await publisher.publish(ev.completed(image_id, owner.name, task_id, at=datetime.now(UTC)))
    await publisher.publish(ev.completed(other_id, owner.name, other_task, at=datetime.now(UTC)))
    _, next_event = await client.wait_events(2)
    assert (next_event["type"], next_event["subject"]) == (COMPLETED, other_id)
    await client.roundtrip()
    assert client.events(image_id) == [told], "nothing after the deletion"
    await client.send({"type": "subscribe", "images": [image_id]})
    error = await client.expect_type("error")
    assert error["code"] == "unknown_image"
    await client.close()
