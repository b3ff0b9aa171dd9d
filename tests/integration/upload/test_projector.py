"""The projector against real PostgreSQL and Kafka: exactly-once rows, order independence."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas import Event
from services.common.kafka.producer import EventPublisher
from services.common.settings import CommonSettings, TopicNames
from services.upload.projector.projection import Projection
from services.upload.projector.runner import run_projector
from services.upload.settings import UploadSettings
from tests.unit.upload import events as ev


async def rows(pool: asyncpg.Pool, image_id: str) -> dict[str, Any]:
    image = await pool.fetchrow("SELECT * FROM images WHERE id = $1", image_id)
    tasks = await pool.fetch(
        "SELECT * FROM processing_tasks WHERE image_id = $1 ORDER BY id", image_id
    )
    return {"image": None if image is None else dict(image), "tasks": [dict(t) for t in tasks]}


def ids() -> tuple[str, str]:
    return f"img-{uuid.uuid4().hex}", f"task-{uuid.uuid4().hex}"


async def test_applying_the_same_events_twice_gives_the_same_rows(pg_pool: asyncpg.Pool) -> None:
    image_id, task_id = ids()
    life: list[Event] = [
        ev.uploaded(image_id, task_id),
        ev.started(image_id, task_id),
        ev.completed(image_id, task_id),
        ev.downloaded(image_id, task_id),
    ]
    projection = Projection(pg_pool)
    assert [await projection.apply(e) for e in life] == [True] * 4
    once = await rows(pg_pool, image_id)
    assert [await projection.apply(e) for e in life] == [False] * 4
    assert await rows(pg_pool, image_id) == once
    assert once["image"]["status"] == "completed"
    (task,) = once["tasks"]
    assert task["status"] == "completed" and task["downloads"] == 1
    applied = await pg_pool.fetchval(
        "SELECT count(*) FROM applied_events WHERE image_id = $1", image_id
    )
    assert applied == 4


async def test_completed_before_started_ends_completed(pg_pool: asyncpg.Pool) -> None:
    image_id, task_id = ids()
    projection = Projection(pg_pool)
    for event in (
        ev.completed(image_id, task_id),
        ev.started(image_id, task_id),
        ev.uploaded(image_id, task_id),
    ):
        await projection.apply(event)
    state = await rows(pg_pool, image_id)
    assert state["image"]["status"] == "completed"
    assert state["tasks"][0]["status"] == "completed"
    assert state["tasks"][0]["started_at"] is not None


async def test_reprocessing_adds_a_task_row(pg_pool: asyncpg.Pool) -> None:
    image_id, task_id = ids()
    projection = Projection(pg_pool)
    for event in (
        ev.uploaded(image_id, task_id),
        ev.completed(image_id, task_id),
        ev.uploaded(image_id, "redo-" + task_id, at=60, replay=True),
    ):
        await projection.apply(event)
    state = await rows(pg_pool, image_id)
    assert len(state["tasks"]) == 2
    assert state["image"]["current_task_id"] == "redo-" + task_id
    assert state["image"]["status"] == "queued"
    statuses = {t["id"]: t["status"] for t in state["tasks"]}
    assert statuses == {task_id: "completed", "redo-" + task_id: "pending"}


async def test_the_projector_process_follows_every_topic_out_of_order(
    stack: CommonSettings,
    upload_topics: TopicNames,
    producer: AIOKafkaProducer,
    pg_pool: asyncpg.Pool,
) -> None:
    common = stack.model_copy(update={"topics": upload_topics})
    settings = UploadSettings(projector_group=f"tests-projector-{uuid.uuid4().hex[:8]}")
    image_id, task_id = ids()
    publisher = EventPublisher(producer, upload_topics, "/clearcut/tests")
    # Completed is on its topic before Started and before the upload itself.
    for event in (
        ev.completed(image_id, task_id),
        ev.started(image_id, task_id),
        ev.uploaded(image_id, task_id),
    ):
        await publisher.publish(event)
    await publisher.publish(ev.completed(image_id, task_id))  # a re-send with a new id

    stop = asyncio.Event()
    runner = asyncio.create_task(run_projector(settings, common, stop))
    state: dict[str, Any] = {}

    async def done() -> bool:
        # Every event applied: the image completed and the (late) Started recorded too; the
        # topics are consumed in no particular order, so either may come last.
        state.update(await rows(pg_pool, image_id))
        image, tasks = state.get("image"), state.get("tasks") or []
        return (
            image is not None
            and image["status"] == "completed"
            and bool(tasks)
            and tasks[0]["started_at"] is not None
        )

    try:
        reached = False
        for _ in range(600):  # polls for at most about 30 s
            if await done():
                reached = True
                break
            if runner.done():
                runner.result()
            await asyncio.sleep(0.05)
        assert reached, f"the projector did not complete the image: {state}"
    finally:
        stop.set()
        await asyncio.wait_for(runner, 15)
    (task,) = state["tasks"]
    assert task["status"] == "completed" and task["started_at"] is not None
