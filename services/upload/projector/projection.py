"""Applies one event to the read model in one PostgreSQL transaction, exactly once.

The event id goes into `applied_events` in the same transaction as the row changes, so a
re-delivered event (same id) finds its record and changes nothing, and a crash between the
change and the Kafka commit cannot apply it twice. The same transaction announces the
event on the `clearcut_applied` channel (`pg_notify`, delivered at commit): the notifier
pushes an event only once it is applied. A per-image advisory lock serialises
events of one image even if two projector replicas ever see them at once.

An ImageDeleted is recorded in `image_deletions` and marks the image and every task of it
deleted; any later event of a deleted image (a task completing after the deletion, a
replayed upload) leaves its rows deleted too. The live projector also asks the purger, in
the same transaction, to remove the image's objects (`purge_requests`), again whenever an
event of a deleted image arrives, since a processor may still be writing results.
"""

from __future__ import annotations

import logging

import asyncpg

from schemas import Event, ImageDeleted, spec_for
from services.common.read_api import APPLIED_CHANNEL
from services.upload.adapters.postgres import postgres_errors
from services.upload.adapters.read_model import (
    load_deletion,
    load_deletions,
    load_image,
    load_image_tasks,
    load_images,
    load_task,
    load_tasks,
    load_tasks_of_images,
    save_deletion,
    save_deletions,
    save_image,
    save_images,
    save_task,
    save_tasks,
)
from services.upload.domain.projection import Deletion, ImageState, TaskState
from services.upload.domain.projection import apply_event as apply_event_to_rows

logger = logging.getLogger(__name__)


_REQUEST_PURGE = (
    "INSERT INTO purge_requests (image_id, owner, due_at, requester) "
    "VALUES ($1, $2, now() + make_interval(secs => $3), $4) "
    "ON CONFLICT (image_id) DO UPDATE SET due_at = EXCLUDED.due_at, purged_at = NULL, "
    "requester = EXCLUDED.requester"
)


_CLAIM = (
    "WITH claimed AS ("
    " INSERT INTO applied_events (event_id, event_type, image_id, occurred_at)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING RETURNING event_id, image_id)"
    " SELECT pg_notify($5, event_id::text || ' ' || image_id),"
    " pg_advisory_xact_lock(hashtext(image_id)) FROM claimed"
)


class Projection:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        purge_delay_seconds: float | None = None,
        requester: str = "",
    ) -> None:
        """``purge_delay_seconds``: ask the purger to remove a deleted image's objects that
        long after each of its events (None: never ask); ``requester``: the deployment (topic
        prefix) whose purger is to do it."""
        self._pool = pool
        self._purge_delay = purge_delay_seconds
        self._requester = requester

    async def apply(self, event: Event) -> bool:
        """Apply ``event``; False when it had been applied before (nothing changed)."""
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                applied = await apply_event(
                    conn, event, purge_delay=self._purge_delay, requester=self._requester
                )
        if applied:
            logger.info(
                "applied %s %s",
                type(event).__name__,
                event.event_id,
                extra={"image_id": event.image_id, "task_id": getattr(event, "task_id", None)},
            )
        return applied


async def apply_event(
    conn: asyncpg.Connection,
    event: Event,
    *,
    purge_delay: float | None = None,
    requester: str = "",
) -> bool:
    """Apply ``event`` inside the caller's transaction on ``conn``; False when it had been
    applied before. With ``purge_delay``, an event of a deleted image also asks the purger
    of ``requester`` (a deployment's topic prefix) to remove its objects after that many
    seconds."""
    # One round trip: record the event id, announce it (delivered to listeners, the
    # notifier, only when this transaction commits) and take the image's lock; the last two
    # only when the id is new.
    claimed = await conn.fetchrow(
        _CLAIM,
        event.event_id,
        spec_for(event).ce_type,
        event.image_id,
        event.occurred_at,
        APPLIED_CHANNEL,
    )
    if claimed is None:
        logger.debug("event %s was applied before; skipped", event.event_id)
        return False
    image = await load_image(conn, event.image_id)
    deletion = await load_deletion(conn, event.image_id)
    if isinstance(event, ImageDeleted):
        tasks = {t.id: t for t in await load_image_tasks(conn, event.image_id)}
    else:
        task = await load_task(conn, event.task_id)
        tasks = {} if task is None else {task.id: task}
    after = apply_event_to_rows(image, deletion, tasks, event)
    if after.deletion is not None and after.deletion != deletion:
        await save_deletion(conn, after.deletion)
    for changed in after.tasks.values():
        await save_task(conn, changed)
    if after.image is not None and after.image != image:
        await save_image(conn, after.image)
    deletion = after.deletion
    if deletion is not None and purge_delay is not None:
        await conn.execute(_REQUEST_PURGE, event.image_id, event.owner, purge_delay, requester)
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
    image_ids = sorted({e.image_id for e in fresh})
    images = await load_images(conn, image_ids)
    deletions = await load_deletions(conn, image_ids)
    deleted_now = sorted({e.image_id for e in fresh if isinstance(e, ImageDeleted)})
    tasks = await load_tasks_of_images(conn, deleted_now)
    tasks.update(
        await load_tasks(
            conn, sorted({e.task_id for e in fresh if not isinstance(e, ImageDeleted)} - set(tasks))
        )
    )
    changed_images: dict[str, ImageState] = {}
    changed_tasks: dict[str, TaskState] = {}
    changed_deletions: dict[str, Deletion] = {}
    for event in fresh:
        if isinstance(event, ImageDeleted):
            concerned = {t.id: t for t in tasks.values() if t.image_id == event.image_id}
        else:
            known = tasks.get(event.task_id)
            concerned = {} if known is None else {known.id: known}
        image, deletion = images.get(event.image_id), deletions.get(event.image_id)
        after = apply_event_to_rows(image, deletion, concerned, event)
        if after.deletion is not None and after.deletion != deletion:
            deletions[event.image_id] = changed_deletions[event.image_id] = after.deletion
        for changed in after.tasks.values():
            tasks[changed.id] = changed_tasks[changed.id] = changed
        if after.image is not None and after.image != image:
            images[after.image.id] = changed_images[after.image.id] = after.image
    await save_deletions(conn, list(changed_deletions.values()))
    await save_tasks(conn, list(changed_tasks.values()))
    await save_images(conn, list(changed_images.values()))
    return len(fresh)
