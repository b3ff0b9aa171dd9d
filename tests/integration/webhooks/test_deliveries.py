"""The delivery state in the real PostgreSQL: idempotent intake, the callback joined in
whichever order it arrives, claims with a lease, attempts recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from schemas import ProcessingCompleted, ProcessingFailed
from services.common.settings import CommonSettings
from services.webhooks.adapters.deliveries import PostgresDeliveries
from services.webhooks.adapters.endpoints import EndpointRegistry
from services.webhooks.adapters.postgres import create_pool
from services.webhooks.domain.attempts import AttemptResult, Decision, DeliveryStatus
from services.webhooks.domain.payload import callback_delivery_id, outcome_of
from tests.unit.webhooks.test_payload_and_attempts import example


@pytest.fixture
async def pool(stack: CommonSettings) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(stack.postgres, 4)
    try:
        yield p
    finally:
        await p.close()


def completed(owner: str, unique: str, attempt: int = 1) -> ProcessingCompleted:
    data = example("ProcessingCompleted") | {
        "owner": owner,
        "image_id": f"img-{unique}",
        "task_id": f"task-{unique}",
        "attempt": attempt,
    }
    return ProcessingCompleted.model_validate(data)


async def mine(store: PostgresDeliveries, owner: str) -> list[str]:
    return sorted(d.id for d in await store.claim_due(1000, 60) if d.owner == owner)


async def test_outcomes_become_deliveries_once_each(pool: asyncpg.Pool, unique: str) -> None:
    owner = f"wh-{unique}"
    store, registry = PostgresDeliveries(pool, sender=f"test-{unique}"), EndpointRegistry(pool)
    first = outcome_of(completed(owner, unique), "http://api")
    assert await store.record_outcome(first) == 0  # no endpoint yet, no callback
    endpoint, secret = await registry.add(owner, "https://hooks.example.com/a", None)
    other = outcome_of(completed(owner, unique, attempt=2), "http://api")
    assert await store.record_outcome(other) == 1
    assert await store.record_outcome(other) == 0  # the same event again: nothing new
    (claimed,) = [d for d in await store.claim_due(1000, 60) if d.owner == owner]
    assert claimed.secret == secret and claimed.target == "endpoint"
    assert claimed.payload["attempt"] == 2 and claimed.attempts == 0
    assert await mine(store, owner) == []  # leased: not claimed twice

    # A failed attempt is retried later; the attempt is in the log.
    started = datetime.now(UTC)
    later = started + timedelta(seconds=30)
    await store.record_attempt(
        claimed,
        AttemptResult(started_at=started, duration_ms=4.0, status_code=503),
        Decision(DeliveryStatus.PENDING, later),
    )
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE id = $1", claimed.id)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_status_code"] == 503
    assert abs((row["next_attempt_at"] - later).total_seconds()) < 0.01
    attempts = await pool.fetch("SELECT * FROM webhook_attempts WHERE delivery_id = $1", claimed.id)
    assert [(a["attempt"], a["outcome"], a["error"]) for a in attempts] == [
        (1, "failed", "HTTP 503")
    ]
    await registry.remove(endpoint.id)
    assert [e.id for e in await registry.list(owner)] == []


async def test_a_callback_learnt_after_its_outcome_still_gets_it(
    pool: asyncpg.Pool, unique: str
) -> None:
    owner = f"wh-{unique}"
    store = PostgresDeliveries(pool, sender=f"test-{unique}")
    data = example("ProcessingFailed") | {
        "owner": owner,
        "image_id": f"img-{unique}",
        "task_id": f"task-{unique}",
    }
    outcome = outcome_of(ProcessingFailed.model_validate(data), "http://api")
    assert await store.record_outcome(outcome) == 0
    url = "https://hooks.example.com/cb"
    assert await store.record_callback(f"task-{unique}", f"img-{unique}", owner, url) == 1
    assert await store.record_callback(f"task-{unique}", f"img-{unique}", owner, url) == 0
    (claimed,) = [d for d in await store.claim_due(1000, 60) if d.owner == owner]
    assert claimed.id == callback_delivery_id(outcome.key)
    assert claimed.url == url and claimed.secret is None  # the owner has no callback secret
    secret = await EndpointRegistry(pool).new_callback_secret(owner)
    await pool.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1", claimed.id
    )
    (again,) = [d for d in await store.claim_due(1000, 60) if d.owner == owner]
    assert again.secret == secret
    await store.cancel(again, "test")
    status = await pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", claimed.id)
    assert status == "cancelled"


async def test_old_finished_outcomes_leave_the_log_pending_ones_stay(
    pool: asyncpg.Pool, unique: str
) -> None:
    owner = f"wh-{unique}"
    store = PostgresDeliveries(pool, sender=f"test-{unique}")
    await EndpointRegistry(pool).add(owner, "https://hooks.example.com/a", None)
    done = outcome_of(completed(owner, f"{unique}-done"), "http://api")
    waiting = outcome_of(completed(owner, f"{unique}-waiting"), "http://api")
    assert await store.record_outcome(done) == 1 and await store.record_outcome(waiting) == 1
    await pool.execute(
        "UPDATE webhook_outcomes SET created_at = now() - interval '40 days' "
        "WHERE outcome_key = ANY($1::text[])",
        [done.key, waiting.key],
    )
    await pool.execute(
        "UPDATE webhook_deliveries SET status = 'delivered', next_attempt_at = NULL "
        "WHERE outcome_key = $1",
        done.key,
    )
    assert await store.forget_older_than(30 * 86400) >= 1
    left = await pool.fetch("SELECT outcome_key FROM webhook_outcomes WHERE owner = $1", owner)
    assert [row["outcome_key"] for row in left] == [waiting.key]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE outcome_key = $1", done.key
        )
        == 0
    )
    await pool.execute(
        "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL "
        "WHERE owner = $1",
        owner,
    )
