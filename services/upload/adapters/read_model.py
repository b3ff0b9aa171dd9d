"""The read model in PostgreSQL: rows of `images` and `processing_tasks` as domain states.

The projector loads and saves rows inside its transaction (`load_*` lock the row); the API
reads them through `ReadModel`. Soft-deleted rows are never shown.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

from services.upload.adapters.postgres import postgres_errors
from services.upload.domain.progress import ImageStatus, TaskStatus
from services.upload.domain.projection import ImageState, TaskState

TASK_COLUMNS = tuple(f.name for f in dataclasses.fields(TaskState))
IMAGE_COLUMNS = tuple(f.name for f in dataclasses.fields(ImageState))


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "id")
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )


_SAVE_TASK = _upsert("processing_tasks", TASK_COLUMNS)
_SAVE_IMAGE = _upsert("images", IMAGE_COLUMNS)
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


async def save_task(conn: asyncpg.Connection, task: TaskState) -> None:
    await conn.execute(_SAVE_TASK, *(getattr(task, c) for c in TASK_COLUMNS))


async def save_image(conn: asyncpg.Connection, image: ImageState) -> None:
    await conn.execute(_SAVE_IMAGE, *(getattr(image, c) for c in IMAGE_COLUMNS))


class ReadModel:
    """What the API reads: an owner's image and the history of its tasks."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def image(self, owner: str, image_id: str) -> ImageState | None:
        with postgres_errors():
            row = await self._pool.fetchrow(
                f"{_IMAGE_SELECT} WHERE id = $1 AND owner = $2 AND NOT deleted", image_id, owner
            )
        return None if row is None else image_from_row(row)

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
