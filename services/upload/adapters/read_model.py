"""The read model in PostgreSQL: rows of `images` and `processing_tasks` as domain states.

The projector loads and saves rows inside its transaction (`load_*` lock the row); the API
reads them through `ReadModel`. A soft-deleted image is read only to answer that it is
deleted; its tasks and its place in a listing are never shown.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

from services.upload.adapters.postgres import postgres_errors
from services.upload.domain.listing import Page, PageRequest
from services.upload.domain.progress import ImageStatus, TaskStatus
from services.upload.domain.projection import Deletion, ImageState, TaskState

TASK_COLUMNS = tuple(f.name for f in dataclasses.fields(TaskState))
IMAGE_COLUMNS = tuple(f.name for f in dataclasses.fields(ImageState))
DELETION_COLUMNS = tuple(f.name for f in dataclasses.fields(Deletion))


def _upsert(table: str, columns: tuple[str, ...], key: str = "id") -> str:
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


_SAVE_TASK = _upsert("processing_tasks", TASK_COLUMNS)
_SAVE_IMAGE = _upsert("images", IMAGE_COLUMNS)
_SAVE_DELETION = _upsert("image_deletions", DELETION_COLUMNS, key="image_id")
_DELETION_SELECT = f"SELECT {', '.join(DELETION_COLUMNS)} FROM image_deletions"
_TASK_SELECT = f"SELECT {', '.join(TASK_COLUMNS)} FROM processing_tasks"
_IMAGE_SELECT = f"SELECT {', '.join(IMAGE_COLUMNS)} FROM images"


def task_from_row(row: asyncpg.Record) -> TaskState:
    values: dict[str, Any] = dict(row)
    values["status"] = TaskStatus(values["status"])
    return TaskState(**values)


def image_from_row(row: asyncpg.Record) -> ImageState:
    values: dict[str, Any] = dict(row)
    values["status"] = ImageStatus(values["status"])
    return ImageState(**values)


async def load_task(conn: asyncpg.Connection, task_id: str) -> TaskState | None:
    row = await conn.fetchrow(f"{_TASK_SELECT} WHERE id = $1 FOR UPDATE", task_id)
    return None if row is None else task_from_row(row)


async def load_image(conn: asyncpg.Connection, image_id: str) -> ImageState | None:
    row = await conn.fetchrow(f"{_IMAGE_SELECT} WHERE id = $1 FOR UPDATE", image_id)
    return None if row is None else image_from_row(row)


async def load_tasks(conn: asyncpg.Connection, task_ids: list[str]) -> dict[str, TaskState]:
    rows = await conn.fetch(f"{_TASK_SELECT} WHERE id = ANY($1::text[]) FOR UPDATE", task_ids)
    return {row["id"]: task_from_row(row) for row in rows}


async def load_images(conn: asyncpg.Connection, image_ids: list[str]) -> dict[str, ImageState]:
    rows = await conn.fetch(f"{_IMAGE_SELECT} WHERE id = ANY($1::text[]) FOR UPDATE", image_ids)
    return {row["id"]: image_from_row(row) for row in rows}


async def save_tasks(conn: asyncpg.Connection, tasks: list[TaskState]) -> None:
    if tasks:
        await conn.executemany(_SAVE_TASK, [[getattr(t, c) for c in TASK_COLUMNS] for t in tasks])


async def save_images(conn: asyncpg.Connection, images: list[ImageState]) -> None:
    if images:
        await conn.executemany(
            _SAVE_IMAGE, [[getattr(i, c) for c in IMAGE_COLUMNS] for i in images]
        )


async def load_deletion(conn: asyncpg.Connection, image_id: str) -> Deletion | None:
    row = await conn.fetchrow(f"{_DELETION_SELECT} WHERE image_id = $1 FOR UPDATE", image_id)
    return None if row is None else Deletion(**{**dict(row), "event_id": str(row["event_id"])})


async def load_deletions(conn: asyncpg.Connection, image_ids: list[str]) -> dict[str, Deletion]:
    rows = await conn.fetch(
        f"{_DELETION_SELECT} WHERE image_id = ANY($1::text[]) FOR UPDATE", image_ids
    )
    return {
        row["image_id"]: Deletion(**{**dict(row), "event_id": str(row["event_id"])}) for row in rows
    }


async def save_deletion(conn: asyncpg.Connection, deletion: Deletion) -> None:
    await conn.execute(_SAVE_DELETION, *(getattr(deletion, c) for c in DELETION_COLUMNS))


async def save_deletions(conn: asyncpg.Connection, deletions: list[Deletion]) -> None:
    if deletions:
        await conn.executemany(
            _SAVE_DELETION, [[getattr(d, c) for c in DELETION_COLUMNS] for d in deletions]
        )


async def load_image_tasks(conn: asyncpg.Connection, image_id: str) -> list[TaskState]:
    """Every task of the image, deleted or not, locked."""
    rows = await conn.fetch(f"{_TASK_SELECT} WHERE image_id = $1 ORDER BY id FOR UPDATE", image_id)
    return [task_from_row(row) for row in rows]


async def load_tasks_of_images(
    conn: asyncpg.Connection, image_ids: list[str]
) -> dict[str, TaskState]:
    rows = await conn.fetch(
        f"{_TASK_SELECT} WHERE image_id = ANY($1::text[]) FOR UPDATE", image_ids
    )
    return {row["id"]: task_from_row(row) for row in rows}


async def save_task(conn: asyncpg.Connection, task: TaskState) -> None:
    await conn.execute(_SAVE_TASK, *(getattr(task, c) for c in TASK_COLUMNS))


async def save_image(conn: asyncpg.Connection, image: ImageState) -> None:
    await conn.execute(_SAVE_IMAGE, *(getattr(image, c) for c in IMAGE_COLUMNS))


def page_query(owner: str, request: PageRequest) -> tuple[str, list[Any]]:
    """The listing query and its arguments, built from the conditions in use only, so that
    the planner walks `images_owner_listing` (or, with a status,
    `images_owner_status_listing`) from the cursor on. One row more than the page is asked
    for, to know whether another page follows."""
    conditions = ["owner = $1", "NOT deleted"]
    args: list[Any] = [owner]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if request.status is not None:
        conditions.append(f"status = {arg(request.status.value)}")
    if request.since is not None:
        conditions.append(f"uploaded_at >= {arg(request.since)}")
    if request.until is not None:
        conditions.append(f"uploaded_at < {arg(request.until)}")
    if request.after is not None:
        at, last_id = request.after
        conditions.append(f"(uploaded_at, id) < ({arg(at)}, {arg(last_id)})")
    query = (
        f"{_IMAGE_SELECT} WHERE {' AND '.join(conditions)} "
        f"ORDER BY uploaded_at DESC, id DESC LIMIT {arg(request.limit + 1)}"
    )
    return query, args


class ReadModel:
    """What the API reads: an owner's image and the history of its tasks."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def image(self, owner: str, image_id: str) -> ImageState | None:
        """The owner's image, deleted or not (`deleted` says which)."""
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"{_IMAGE_SELECT} WHERE id = $1 AND owner = $2", image_id, owner
            )
        return None if row is None else image_from_row(row)

    async def page(self, owner: str, request: PageRequest) -> Page:
        """A page of the owner's images that are not deleted, newest upload first, with
        each image's current task (`page_query`)."""
        query, args = page_query(owner, request)
        with postgres_errors():
            rows = await self._pool.fetch(query, *args)
            images = [image_from_row(row) for row in rows[: request.limit]]
            task_rows = await self._pool.fetch(
                f"{_TASK_SELECT} WHERE id = ANY($1::text[])", [i.current_task_id for i in images]
            )
        tasks = {row["id"]: task_from_row(row) for row in task_rows}
        return Page(images=images, current_tasks=tasks, more=len(rows) > request.limit)

    async def tasks(self, image_id: str) -> list[TaskState]:
        """The image's tasks, oldest request first."""
        with postgres_errors():
            rows = await self._pool.fetch(
                f"{_TASK_SELECT} WHERE image_id = $1 AND NOT deleted "
                "ORDER BY requested_at NULLS LAST, created_at, id",
                image_id,
            )
        return [task_from_row(row) for row in rows]

    async def task(self, task_id: str) -> TaskState | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"{_TASK_SELECT} WHERE id = $1 AND NOT deleted", task_id
            )
        return None if row is None else task_from_row(row)

    async def ping(self) -> None:
        with postgres_errors():
            await self._pool.fetchval("SELECT 1")
