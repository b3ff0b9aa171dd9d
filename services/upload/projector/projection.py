"""Applies one event to the read model in one PostgreSQL transaction, exactly once.

The event id goes into `applied_events` in the same transaction as the row changes, so a
re-delivered event (same id) finds its record and changes nothing, and a crash between the
change and the Kafka commit cannot apply it twice. A per-image advisory lock serialises
events of one image even if two projector replicas ever see them at once.
"""

from __future__ import annotations

import logging

import asyncpg

from schemas import Event, spec_for
from services.upload.adapters.postgres import postgres_errors
from services.upload.adapters.read_model import (
    load_image,
    load_images,
    load_task,
    load_tasks,
    save_image,
    save_images,
    save_task,
    save_tasks,
)
from services.upload.domain.projection import ImageState, TaskState, apply_to_image, apply_to_task

logger = logging.getLogger(__name__)


class Projection:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def apply(self, event: Event) -> bool:
        """Apply ``event``; False when it had been applied before (nothing changed)."""
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                applied = await apply_event(conn, event)
        if applied:
            logger.info(
                "applied %s %s",
                type(event).__name__,
                event.event_id,
                extra={"image_id": event.image_id, "task_id": event.task_id},
            )
        return applied


async def apply_event(conn: asyncpg.Connection, event: Event) -> bool:
    """Apply ``event`` inside the caller's transaction on ``conn``; False when it had been
    applied before."""
    first_time = await conn.fetchval(
        "INSERT INTO applied_events (event_id, event_type, image_id, occurred_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING RETURNING true",
        event.event_id,
        spec_for(event).ce_type,
        event.image_id,
        event.occurred_at,
    )
    if not first_time:
        logger.debug("event %s was applied before; skipped", event.event_id)
        return False
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", event.image_id)
    image = await load_image(conn, event.image_id)
    task = await load_task(conn, event.task_id)
    new_task = apply_to_task(task, event)
    if new_task != task:
        await save_task(conn, new_task)
    new_image = apply_to_image(image, event, new_task)
    if new_image is not None and new_image != image:
        await save_image(conn, new_image)
    return True


async def apply_batch(conn: asyncpg.Connection, events: list[Event]) -> int:
    """Apply ``events`` in order inside the caller's transaction, for a single writer (the
    rebuild, into tables of its own): the same pure functions as `apply_event`, with the
    rows loaded once and saved once per batch. Returns how many were applied for the first
    time."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    if not unique:
        return 0
    rows = await conn.fetch(
        "INSERT INTO applied_events (event_id, event_type, image_id, occurred_at) "
        "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        list(unique),
        [spec_for(e).ce_type for e in unique.values()],
        [e.image_id for e in unique.values()],
        [e.occurred_at for e in unique.values()],
    )
    first_time = {str(row["event_id"]) for row in rows}
    fresh = [e for e in unique.values() if e.event_id in first_time]
    images = await load_images(conn, sorted({e.image_id for e in fresh}))
    tasks = await load_tasks(conn, sorted({e.task_id for e in fresh}))
    changed_images: dict[str, ImageState] = {}
    changed_tasks: dict[str, TaskState] = {}
    for event in fresh:
        task = tasks.get(event.task_id)
        new_task = apply_to_task(task, event)
        if new_task != task:
            tasks[new_task.id] = changed_tasks[new_task.id] = new_task
        image = images.get(event.image_id)
        new_image = apply_to_image(image, event, new_task)
        if new_image is not None and new_image != image:
            images[new_image.id] = changed_images[new_image.id] = new_image
    await save_tasks(conn, list(changed_tasks.values()))
    await save_images(conn, list(changed_images.values()))
    return len(fresh)
