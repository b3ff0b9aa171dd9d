"""The notifier's adapters need nothing but the read side's interface: in a read model of
the test's own schema whose tables are then renamed out of reach (the views stay bound to
them), they read snapshots, applied events and key owners as before, while any query
naming a table fails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from services.common.auth import create_key, revoke_key
from services.common.settings import CommonSettings
from services.notifier.adapters.api_keys import ApiKeys
from services.notifier.adapters.read_model import PostgresReadModel
from services.notifier.domain.progress import Status
from tests.integration.notifier.conftest import ReadModelRows
from tests.integration.upload.isolated import isolated_schema
from tests.unit.notifier import factory as ev
from tests.unit.notifier.test_read_api_sql import PRIVATE_TABLES


async def test_the_adapters_work_with_the_views_alone(stack: CommonSettings) -> None:
    async with isolated_schema(stack) as settings:
        pool = await asyncpg.create_pool(settings.dsn, min_size=0, max_size=2)
        try:
            await check_views_alone(pool)
        finally:
            await pool.close()


async def check_views_alone(pool: asyncpg.Pool) -> None:
    owner = f"owner-{uuid.uuid4().hex[:10]}"
    image_id, task_id = f"img-{uuid.uuid4().hex[:12]}", f"task-{uuid.uuid4().hex[:12]}"
    rows = ReadModelRows(pool)
    await rows.uploaded(image_id, owner, task_id)
    completed = ev.completed(image_id, owner, task_id, at=datetime.now(UTC))
    await rows.apply(completed)
    # Applied before its image's upload: not readable (GET would not answer completed).
    orphan = ev.completed(f"img-{uuid.uuid4().hex[:12]}", owner, at=datetime.now(UTC))
    await rows.apply(orphan)
    key, revoked = await create_key(pool, owner), await create_key(pool, owner)
    await revoke_key(pool, revoked)
    async with pool.acquire() as conn:
        schema = await conn.fetchval("SELECT current_schema()")
        await conn.execute(f"SET search_path TO {schema}")
        for table in PRIVATE_TABLES:
            if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.{table}"):
                await conn.execute(f"ALTER TABLE {schema}.{table} RENAME TO {table}_hidden")
        with pytest.raises(asyncpg.UndefinedTableError):
            await conn.fetch("SELECT id FROM images LIMIT 1")

    read_model = PostgresReadModel(pool)
    (snapshot,) = (await read_model.images([image_id, "img-nowhere"])).values()
    assert snapshot.image_id == image_id and snapshot.owner == owner
    assert snapshot.status is Status.COMPLETED and snapshot.task_id == task_id
    assert [r.kind for r in snapshot.results] == [r.kind.value for r in completed.results]
    listed = await read_model.owner_images(owner, datetime(2000, 1, 1, tzinfo=UTC), 10)
    assert [s.image_id for s in listed] == [image_id]
    never = str(uuid.uuid4())
    assert await read_model.readable([completed.event_id, never, orphan.event_id]) == {
        completed.event_id
    }

    keys = ApiKeys(pool)
    assert await keys.owner_for(key) == owner
    assert await keys.owner_for(revoked) is None
    assert await keys.owner_for("cc_unknown") is None
