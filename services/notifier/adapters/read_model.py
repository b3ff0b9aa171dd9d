"""Snapshots of images, read (never written) from the read model in PostgreSQL.

The projector of the upload service owns the ``images`` and ``processing_tasks`` tables;
the notifier only selects from them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.notifier.adapters.postgres import UNAVAILABLE_ERRORS
from services.notifier.domain.progress import Status
from services.notifier.domain.snapshot import ErrorInfo, ImageSnapshot, ResultInfo
from services.notifier.ports import ReadModelUnavailable

logger = logging.getLogger(__name__)

_SELECT = """
SELECT i.id, i.owner, i.status, i.current_task_id, i.current_task_requested_at,
       i.updated_at, t.attempt, t.model_name, t.model_version, t.provider,
       t.results::text AS results, t.error_reason, t.error_message, t.error_retriable
FROM images i
LEFT JOIN processing_tasks t ON t.id = i.current_task_id AND NOT t.deleted
"""
_BY_IDS = _SELECT + "WHERE i.id = ANY($1::text[]) AND NOT i.deleted"
_BY_OWNER = (
    _SELECT
    + """WHERE i.owner = $1 AND NOT i.deleted
  AND (i.status IN ('queued', 'processing') OR ($2::timestamptz IS NOT NULL AND i.updated_at >= $2))
ORDER BY i.updated_at DESC, i.id
LIMIT $3"""
)


class PostgresReadModel:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout

    async def images(self, image_ids: Sequence[str]) -> dict[str, ImageSnapshot]:
        rows = await self._fetch(_BY_IDS, list(image_ids))
        return {row["id"]: snapshot_from_row(row) for row in rows}

    async def owner_images(
        self, owner: str, since: datetime | None, limit: int
    ) -> list[ImageSnapshot]:
        rows = await self._fetch(_BY_OWNER, owner, since, limit)
        return [snapshot_from_row(row) for row in rows]

    async def _fetch(self, query: str, *args: object) -> list[Any]:
        try:
            rows: list[Any] = await self._pool.fetch(query, *args, timeout=self._timeout)
        except UNAVAILABLE_ERRORS as exc:
            raise ReadModelUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return rows


def snapshot_from_row(row: Any) -> ImageSnapshot:
    results: list[dict[str, Any]] = json.loads(row["results"]) if row["results"] else []
    error = None
    if row["error_reason"] is not None:
        error = ErrorInfo(
            row["error_reason"], row["error_message"] or "", bool(row["error_retriable"])
        )
    return ImageSnapshot(
        image_id=row["id"],
        owner=row["owner"],
        status=Status(row["status"]),
        task_id=row["current_task_id"],
        attempt=row["attempt"] or 0,
        updated_at=row["updated_at"],
        task_requested_at=row["current_task_requested_at"],
        model_name=row["model_name"],
        model_version=row["model_version"],
        provider=row["provider"],
        results=tuple(
            ResultInfo(r["kind"], r["content_type"], r["width"], r["height"], r["size"])
            for r in results
        ),
        error=error,
    )
