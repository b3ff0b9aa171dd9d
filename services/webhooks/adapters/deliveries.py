"""The durable state of webhook deliveries in PostgreSQL (tables of migration 007).

Every write is idempotent: outcomes are keyed by task, attempt and status, deliveries by a
stable id derived from the outcome and the target, so an event delivered twice to the
service creates nothing new. A delivery is claimed by moving its ``next_attempt_at`` a lease
ahead (``FOR UPDATE SKIP LOCKED``), so replicas never send the same attempt at once and a
process that dies mid-send leaves it due again after the lease.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.webhooks.adapters.postgres import postgres_errors
from services.webhooks.domain.attempts import AttemptResult, Decision, DeliveryStatus
from services.webhooks.domain.payload import Outcome, callback_delivery_id, endpoint_delivery_id
from services.webhooks.ports import Claimed

_CLAIM = """
WITH due AS (
    SELECT id FROM webhook_deliveries
    WHERE status = 'pending' AND sender = $3 AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d
    SET next_attempt_at = now() + make_interval(secs => $2), updated_at = now()
    FROM due WHERE d.id = due.id
    RETURNING d.*
)
SELECT c.id, c.owner, c.target, c.url, c.attempts, c.created_at, o.payload,
       CASE WHEN c.target = 'endpoint' THEN e.secret ELSE s.secret END AS secret,
       (e.removed_at IS NOT NULL) AS endpoint_removed,
       EXISTS (
           SELECT 1 FROM processing_tasks t
           WHERE t.id = o.task_id AND (t.status = 'completed'
               OR (o.event_type = 'image.failed' AND t.status = 'failed'))
       ) AS projected
FROM claimed c
JOIN webhook_outcomes o ON o.outcome_key = c.outcome_key
LEFT JOIN webhook_endpoints e ON e.id = c.endpoint_id
LEFT JOIN webhook_callback_secrets s ON c.target = 'callback' AND s.owner = c.owner
"""


class PostgresDeliveries:
    def __init__(self, pool: asyncpg.Pool, sender: str = "") -> None:
        """``sender``: the deployment (its topic prefix) whose deliveries this store creates
        and claims; another deployment sharing the database never sends them."""
        self._pool = pool
        self._sender = sender

    async def record_outcome(self, outcome: Outcome) -> int:
        """Store the outcome and one delivery per target it has now: every active endpoint
        of its owner, and the task's callback URL if one is known. Returns how many
        deliveries are new."""
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO webhook_outcomes (outcome_key, event_id, event_type, owner, "
                    "image_id, task_id, occurred_at, payload) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    outcome.key,
                    outcome.event_id,
                    outcome.event_type,
                    outcome.owner,
                    outcome.image_id,
                    outcome.task_id,
                    outcome.occurred_at,
                    outcome.payload,
                )
                created = 0
                endpoints = await conn.fetch(
                    "SELECT id, url FROM webhook_endpoints "
                    "WHERE owner = $1 AND removed_at IS NULL AND created_at <= now()",
                    outcome.owner,
                )
                for endpoint in endpoints:
                    created += await _insert_delivery(
                        self._sender,
                        conn,
                        endpoint_delivery_id(outcome.key, endpoint["id"]),
                        outcome.key,
                        outcome.owner,
                        "endpoint",
                        endpoint["id"],
                        endpoint["url"],
                    )
                callback = await conn.fetchrow(
                    "SELECT url FROM webhook_callbacks WHERE task_id = $1 AND owner = $2",
                    outcome.task_id,
                    outcome.owner,
                )
                if callback is not None:
                    created += await _insert_delivery(
                        self._sender,
                        conn,
                        callback_delivery_id(outcome.key),
                        outcome.key,
                        outcome.owner,
                        "callback",
                        None,
                        callback["url"],
                    )
                return created

    async def record_callback(self, task_id: str, image_id: str, owner: str, url: str) -> int:
        """Remember the task's callback URL; outcomes of the task already stored (they can
        arrive first) get their callback delivery now. Returns how many are new."""
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO webhook_callbacks (task_id, image_id, owner, url) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    task_id,
                    image_id,
                    owner,
                    url,
                )
                stored = await conn.fetchval(
                    "SELECT url FROM webhook_callbacks WHERE task_id = $1", task_id
                )
                created = 0
                for row in await conn.fetch(
                    "SELECT outcome_key FROM webhook_outcomes WHERE task_id = $1 AND owner = $2",
                    task_id,
                    owner,
                ):
                    key = row["outcome_key"]
                    created += await _insert_delivery(
                        self._sender,
                        conn,
                        callback_delivery_id(key),
                        key,
                        owner,
                        "callback",
                        None,
                        stored,
                    )
                return created

    async def claim_due(self, limit: int, lease_seconds: float) -> list[Claimed]:
        with postgres_errors():
            rows = await self._pool.fetch(_CLAIM, limit, float(lease_seconds), self._sender)
        return [_claimed(row) for row in rows]

    async def record_attempt(
        self, delivery: Claimed, result: AttemptResult, decision: Decision
    ) -> None:
        attempt = delivery.attempts + 1
        final = decision.status is not DeliveryStatus.PENDING
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, started_at, "
                    "duration_ms, outcome, status_code, error) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    delivery.id,
                    attempt,
                    result.started_at,
                    result.duration_ms,
                    result.outcome.value,
                    result.status_code,
                    result.description,
                )
                await conn.execute(
                    "UPDATE webhook_deliveries SET status = $2, attempts = $3, "
                    "next_attempt_at = $4, last_status_code = $5, last_error = $6, "
                    "updated_at = now(), finished_at = CASE WHEN $7 THEN now() END "
                    "WHERE id = $1 AND status = 'pending'",
                    delivery.id,
                    decision.status.value,
                    attempt,
                    decision.next_attempt_at,
                    result.status_code,
                    result.description,
                    final,
                )

    async def postpone(self, delivery: Claimed, seconds: float) -> None:
        """Make the delivery due again in ``seconds`` without counting an attempt."""
        with postgres_errors():
            await self._pool.execute(
                "UPDATE webhook_deliveries "
                "SET next_attempt_at = now() + make_interval(secs => $2), updated_at = now() "
                "WHERE id = $1 AND status = 'pending'",
                delivery.id,
                float(seconds),
            )

    async def cancel(self, delivery: Claimed, reason: str) -> None:
        with postgres_errors():
            await self._pool.execute(
                "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, "
                "last_error = $2, updated_at = now(), finished_at = now() "
                "WHERE id = $1 AND status = 'pending'",
                delivery.id,
                reason,
            )

    async def forget_older_than(self, seconds: float) -> int:
        """Remove outcomes older than ``seconds`` whose deliveries are all finished, with
        their deliveries and attempts, and callbacks as old. Returns the outcomes removed."""
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                old = [
                    row["outcome_key"]
                    for row in await conn.fetch(
                        "SELECT o.outcome_key FROM webhook_outcomes o "
                        "WHERE o.created_at < now() - make_interval(secs => $1) "
                        "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d "
                        "WHERE d.outcome_key = o.outcome_key AND d.status = 'pending') "
                        "LIMIT 10000",
                        float(seconds),
                    )
                ]
                await conn.execute(
                    "DELETE FROM webhook_deliveries WHERE outcome_key = ANY($1::text[])", old
                )
                await conn.execute(
                    "DELETE FROM webhook_outcomes WHERE outcome_key = ANY($1::text[])", old
                )
                await conn.execute(
                    "DELETE FROM webhook_callbacks "
                    "WHERE created_at < now() - make_interval(secs => $1)",
                    float(seconds),
                )
        return len(old)

    async def pending(self) -> int:
        with postgres_errors():
            count = await self._pool.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            )
        return int(count or 0)


async def _insert_delivery(
    sender: str,
    conn: asyncpg.Connection,
    delivery_id: str,
    outcome_key: str,
    owner: str,
    target: str,
    endpoint_id: str | None,
    url: str,
) -> int:
    status = await conn.execute(
        "INSERT INTO webhook_deliveries (id, outcome_key, owner, target, endpoint_id, url, "
        "status, next_attempt_at, sender) VALUES ($1, $2, $3, $4, $5, $6, 'pending', now(), $7) "
        "ON CONFLICT (id) DO NOTHING",
        delivery_id,
        outcome_key,
        owner,
        target,
        endpoint_id,
        url,
        sender,
    )
    return 1 if status.endswith(" 1") else 0


def _claimed(row: Any) -> Claimed:
    return Claimed(
        id=row["id"],
        owner=row["owner"],
        target=row["target"],
        url=row["url"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        payload=dict(row["payload"]),
        secret=row["secret"],
        endpoint_removed=bool(row["endpoint_removed"]),
        projected=bool(row["projected"]),
    )
