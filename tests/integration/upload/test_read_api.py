"""The read side's interface (migration 009) as the upload service guarantees it: the
`read_api_*` views exist with their documented columns and agree with the tables the
projector writes, and the projector announces each applied event at commit."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from services.common.auth import create_key, hash_key, revoke_key
from services.common.read_api import APPLIED_CHANNEL, VIEWS, applied_payload
from services.upload.projector.projection import Projection, apply_event
from tests.unit.upload import events as ev


async def test_every_view_has_exactly_its_documented_columns(pg_pool: asyncpg.Pool) -> None:
    for view, columns in VIEWS.items():
        found = await pg_pool.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            view,
        )
        assert tuple(r["column_name"] for r in found) == columns, view
        kind = await pg_pool.fetchval(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = $1",
            view,
        )
        assert kind == "VIEW"


async def test_the_image_view_agrees_with_the_tables_through_an_images_life(
    pg_pool: asyncpg.Pool,
) -> None:
    image_id, task_id = f"img-{uuid.uuid4().hex}", f"task-{uuid.uuid4().hex}"
    projection = Projection(pg_pool)
    for event in (ev.uploaded(image_id, task_id), ev.started(image_id, task_id)):
        await projection.apply(event)
    view = await pg_pool.fetchrow("SELECT * FROM read_api_images WHERE image_id = $1", image_id)
    assert view is not None and view["status"] == "processing" and view["task_id"] == task_id
    await projection.apply(ev.completed(image_id, task_id))
    view = await pg_pool.fetchrow("SELECT * FROM read_api_images WHERE image_id = $1", image_id)
    image = await pg_pool.fetchrow("SELECT * FROM images WHERE id = $1", image_id)
    task = await pg_pool.fetchrow("SELECT * FROM processing_tasks WHERE id = $1", task_id)
    assert view is not None and image is not None and task is not None
    assert dict(view) == {
        "image_id": image["id"],
        "owner": image["owner"],
        "status": "completed",
        "task_id": image["current_task_id"],
        "task_requested_at": image["current_task_requested_at"],
        "updated_at": image["updated_at"],
        "attempt": task["attempt"],
        "model_name": task["model_name"],
        "model_version": task["model_version"],
        "provider": task["provider"],
        "results": task["results"],
        "error_reason": None,
        "error_message": None,
        "error_retriable": None,
    }
    assert view["results"] is not None
    applied = await pg_pool.fetch(
        "SELECT event_id::text, image_id FROM read_api_applied_events WHERE image_id = $1",
        image_id,
    )
    own = await pg_pool.fetch(
        "SELECT event_id::text, image_id FROM applied_events WHERE image_id = $1", image_id
    )
    assert len(applied) == 3 and sorted(map(tuple, applied)) == sorted(map(tuple, own))

    await projection.apply(ev.deleted(image_id))
    assert (
        await pg_pool.fetchrow("SELECT * FROM read_api_images WHERE image_id = $1", image_id)
        is None
    )


async def test_only_keys_not_revoked_are_active(pg_pool: asyncpg.Pool) -> None:
    owner = f"owner-{uuid.uuid4().hex[:10]}"
    kept, revoked = await create_key(pg_pool, owner), await create_key(pg_pool, owner)
    await revoke_key(pg_pool, revoked)
    active = await pg_pool.fetch(
        "SELECT key_sha256 FROM read_api_active_keys WHERE owner = $1", owner
    )
    assert [r["key_sha256"] for r in active] == [hash_key(kept)]


async def test_each_applied_event_is_announced_once_when_its_transaction_commits(
    pg_pool: asyncpg.Pool,
) -> None:
    image_id, task_id = f"img-{uuid.uuid4().hex}", f"task-{uuid.uuid4().hex}"
    heard: asyncio.Queue[str] = asyncio.Queue()
    async with pg_pool.acquire() as listener:

        def hear(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            heard.put_nowait(payload)

        await listener.add_listener(APPLIED_CHANNEL, hear)
        try:
            uploaded = ev.uploaded(image_id, task_id)
            async with pg_pool.acquire() as conn:
                tx = conn.transaction()
                await tx.start()
                assert await apply_event(conn, uploaded)
                await asyncio.sleep(0.3)
                assert heard.empty()  # not before the commit
                await tx.commit()
            payload = await asyncio.wait_for(next_announcement(heard, image_id), 10)
            assert payload == applied_payload(uploaded.event_id, image_id)
            # A re-delivered event changes nothing and announces nothing.
            assert not await Projection(pg_pool).apply(uploaded)
            completed = ev.completed(image_id, task_id)
            assert await Projection(pg_pool).apply(completed)
            payload = await asyncio.wait_for(next_announcement(heard, image_id), 10)
            assert payload == applied_payload(completed.event_id, image_id)
        finally:
            await listener.remove_listener(APPLIED_CHANNEL, hear)


async def next_announcement(heard: asyncio.Queue[str], image_id: str) -> str:
    """The next announcement of ``image_id`` (other tests' projectors share the channel)."""
    while True:
        payload = await heard.get()
        if payload.endswith(f" {image_id}"):
            return payload
