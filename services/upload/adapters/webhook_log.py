"""The webhook delivery log, read for its owner (`GET /v1/webhooks/deliveries`).

The tables belong to the webhooks service, which writes them (migration 007); the API only
reads them, a page at a time, newest delivery first, ties broken by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.upload.adapters.postgres import postgres_errors


@dataclass(frozen=True, slots=True)
class AttemptRow:
    attempt: int
    started_at: datetime
    duration_ms: float
    outcome: str
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: str
    event_type: str
    event_id: str
    image_id: str
    task_id: str
    target: str
    endpoint_id: str | None
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptRow]


_PAGE = """
SELECT d.*, o.event_type, o.event_id, o.image_id, o.task_id
FROM webhook_deliveries d JOIN webhook_outcomes o ON o.outcome_key = d.outcome_key
WHERE d.owner = $1
  AND ($2::text IS NULL OR d.status = $2)
  AND ($3::text IS NULL OR o.image_id = $3)
  AND ($4::timestamptz IS NULL OR (d.created_at, d.id) < ($4, $5))
ORDER BY d.created_at DESC, d.id DESC
LIMIT $6
"""


class WebhookLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(
        self,
        owner: str,
        *,
        limit: int,
        status: str | None,
        image_id: str | None,
        after: tuple[datetime, str] | None,
    ) -> tuple[list[DeliveryRow], bool]:
        """Up to ``limit`` deliveries after the position ``after``, and whether more follow."""
        at, last_id = after if after is not None else (None, "")
        with postgres_errors():
            rows = await self._pool.fetch(_PAGE, owner, status, image_id, at, last_id, limit + 1)
            ids = [row["id"] for row in rows[:limit]]
            attempts = await self._pool.fetch(
                "SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::text[]) "
                "ORDER BY delivery_id, attempt",
                ids,
            )
        by_delivery: dict[str, list[AttemptRow]] = {}
        for a in attempts:
            by_delivery.setdefault(a["delivery_id"], []).append(
                AttemptRow(
                    attempt=a["attempt"],
                    started_at=a["started_at"],
                    duration_ms=a["duration_ms"],
                    outcome=a["outcome"],
                    status_code=a["status_code"],
                    error=a["error"],
                )
            )
        found = [
            DeliveryRow(
                id=r["id"],
                event_type=r["event_type"],
                event_id=r["event_id"],
                image_id=r["image_id"],
                task_id=r["task_id"],
                target=r["target"],
                endpoint_id=r["endpoint_id"],
                url=r["url"],
                status=r["status"],
                attempts=r["attempts"],
                next_attempt_at=r["next_attempt_at"],
                last_status_code=r["last_status_code"],
                last_error=r["last_error"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                finished_at=r["finished_at"],
                attempt_log=by_delivery.get(r["id"], []),
            )
            for r in rows[:limit]
        ]
        return found, len(rows) > limit
