"""The notifier's adapters need nothing but the read side's interface: connected as a role
that may select from the `read_api_*` views and from no table, they read snapshots, applied
events and key owners as before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import SecretStr

from services.common.auth import create_key, revoke_key
from services.common.read_api import VIEWS
from services.common.settings import CommonSettings
from services.notifier.adapters.api_keys import ApiKeys
from services.notifier.adapters.read_model import PostgresReadModel
from services.notifier.domain.progress import Status
from tests.integration.notifier.conftest import ReadModelRows
from tests.unit.notifier import factory as ev


@pytest.fixture
async def views_only(stack: CommonSettings, pg: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """A pool of a throw-away role granted SELECT on the views only."""
    role, password = f"test_read_api_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    async with pg.acquire() as conn:
        schema = await conn.fetchval("SELECT current_schema()")
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        for view in VIEWS:
            await conn.execute(f"GRANT SELECT ON {view} TO {role}")
    settings = stack.postgres.model_copy(update={"user": role, "password": SecretStr(password)})
    pool = await asyncpg.create_pool(settings.dsn, min_size=0, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()
        async with pg.acquire() as conn:
            await conn.execute(f"DROP OWNED BY {role}")
            await conn.execute(f"DROP ROLE {role}")


async def test_the_adapters_work_with_the_views_alone(
    views_only: asyncpg.Pool, pg: asyncpg.Pool
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await views_only.fetch("SELECT id FROM images LIMIT 1")

    owner = f"owner-{uuid.uuid4().hex[:10]}"
    image_id, task_id = f"img-{uuid.uuid4().hex[:12]}", f"task-{uuid.uuid4().hex[:12]}"
    rows = ReadModelRows(pg)
    await rows.uploaded(image_id, owner, task_id)
    completed = ev.completed(image_id, owner, task_id, at=datetime.now(UTC))
    await rows.apply(completed)

    read_model = PostgresReadModel(views_only)
    (snapshot,) = (await read_model.images([image_id, "img-nowhere"])).values()
    assert snapshot.image_id == image_id and snapshot.owner == owner
    assert snapshot.status is Status.COMPLETED and snapshot.task_id == task_id
    assert [r.kind for r in snapshot.results] == [r.kind.value for r in completed.results]
    listed = await read_model.owner_images(owner, datetime(2000, 1, 1, tzinfo=UTC), 10)
    assert [s.image_id for s in listed] == [image_id]
    other = str(uuid.uuid4())
    assert await read_model.applied([completed.event_id, other]) == {completed.event_id}

    keys = ApiKeys(views_only)
    key, revoked = await create_key(pg, owner), await create_key(pg, owner)
    await revoke_key(pg, revoked)
    assert await keys.owner_for(key) == owner
    assert await keys.owner_for(revoked) is None
    assert await keys.owner_for("cc_unknown") is None
