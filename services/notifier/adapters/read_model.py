"""Snapshots of images, read (never written) from the read model in PostgreSQL.

The upload service owns the read model; the notifier selects only from the views that its
migrations define as the read side's interface (``read_api_*``, migration 009), never from
the tables behind them.
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
SELECT image_id, owner, status, task_id, task_requested_at, updated_at, attempt,
       model_name, model_version, provider, results::text AS results,
       error_reason, error_message, error_retriable
FROM read_api_images
"""
_BY_IDS = _SELECT + "WHERE image_id = ANY($1::text[])"
_BY_OWNER = (
    _SELECT
    + """WHERE owner = $1
  AND (status IN ('queued', 'processing') OR ($2::timestamptz IS NOT NULL AND updated_at >= $2))
ORDER BY updated_at DESC, image_id
LIMIT $3"""
)
# Applied, and its image is in the read model (or it deleted the image): what GET answers.
_READABLE = """
SELECT a.event_id::text AS event_id
FROM read_api_applied_events a
WHERE a.event_id = ANY($1::uuid[])
  AND (a.event_type = 'io.clearcut.image.deleted.v1'
       OR EXISTS (SELECT 1 FROM read_api_images i WHERE i.image_id = a.image_id))
"""
QUERIES = (_BY_IDS, _BY_OWNER, _READABLE)


class PostgresReadModel:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout

    async def images(self, image_ids: Sequence[str]) -> dict[str, ImageSnapshot]:
        rows = await self._fetch(_BY_IDS, list(image_ids))
        return {row["image_id"]: snapshot_from_row(row) for row in rows}

    async def owner_images(
        self, owner: str, since: datetime | None, limit: int
    ) -> list[ImageSnapshot]:
        rows = await self._fetch(_BY_OWNER, owner, since, limit)
        return [snapshot_from_row(row) for row in rows]

    async def readable(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among ``event_ids`` of events the projector has applied to an image the
        read model shows (or that deleted their image)."""
        rows = await self._fetch(_READABLE, list(event_ids))
        return {row["event_id"] for row in rows}

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
        image_id=row["image_id"],
        owner=row["owner"],
        status=Status(row["status"]),
        task_id=row["task_id"],
        attempt=row["attempt"] or 0,
        updated_at=row["updated_at"],
        task_requested_at=row["task_requested_at"],
        model_name=row["model_name"],
        model_version=row["model_version"],
        provider=row["provider"],
        results=tuple(
            ResultInfo(r["kind"], r["content_type"], r["width"], r["height"], r["size"])
            for r in results
        ),
        error=error,
    )
