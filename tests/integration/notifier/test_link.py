"""The `websocket` link of an image (`/v1/ws?image_id=<id>`) subscribes to it on connect."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.common.kafka.producer import EventPublisher
from tests.integration.notifier.conftest import NotifierProcess, Owner, ReadModelRows, connect
from tests.unit.notifier import factory as ev

STARTED = "io.clearcut.image.processing.started.v1"
COMPLETED = "io.clearcut.image.processing.completed.v1"
MakeOwner = Callable[[], Awaitable[Owner]]


def new_image() -> tuple[str, str]:
    return f"img-{uuid.uuid4().hex[:12]}", f"task-{uuid.uuid4().hex[:12]}"


async def test_the_link_with_a_bearer_header_subscribes_to_its_image_after_welcome(
    notifier: NotifierProcess,
    publisher: EventPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    image_id, task_id = new_image()
    await rows.uploaded(image_id, owner.name, task_id)
    client = await connect(notifier, owner.key, query=f"?image_id={image_id}")
    assert (await client.expect_type("welcome"))["owner"] == owner.name
    snapshot = await client.expect_type("snapshot")
    assert snapshot["request_id"] == "image_id"
    assert [i["image_id"] for i in snapshot["images"]] == [image_id]

    await publisher.publish(ev.started(image_id, owner.name, task_id, at=datetime.now(UTC)))
    await publisher.publish(ev.completed(image_id, owner.name, task_id, at=datetime.now(UTC)))
    events = await client.wait_events(2)
    assert [e["type"] for e in events] == [STARTED, COMPLETED]
    await client.close()


async def test_the_link_subscribes_after_a_first_auth_message_too(
    notifier: NotifierProcess, rows: ReadModelRows, make_owner: MakeOwner
) -> None:
    owner = await make_owner()
    image_id, task_id = new_image()
    await rows.uploaded(image_id, owner.name, task_id)
    client = await connect(notifier, None, query=f"?image_id={image_id}")
    await client.send({"type": "auth", "key": owner.key})
    await client.expect_type("welcome")
    snapshot = await client.expect_type("snapshot")
    assert [i["image_id"] for i in snapshot["images"]] == [image_id]
    await client.close()


async def test_a_link_to_an_image_of_another_owner_answers_unknown_image(
    notifier: NotifierProcess, rows: ReadModelRows, make_owner: MakeOwner
) -> None:
    alice, bob = await make_owner(), await make_owner()
    image_id, task_id = new_image()
    await rows.uploaded(image_id, bob.name, task_id)
    client = await connect(notifier, alice.key, query=f"?image_id={image_id}")
    await client.expect_type("welcome")
    error = await client.expect_type("error")
    assert (error["code"], error["image_id"], error["request_id"]) == (
        "unknown_image",
        image_id,
        "image_id",
    )
    await client.close()
