"""Migrations and API keys against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import asyncpg
import pytest

from services.common.auth import create_key, owner_for_key, revoke_key, store_key
from services.common.settings import CommonSettings
from services.upload.adapters.postgres import connect
from services.upload.migrations.runner import (
    Migration,
    MigrationError,
    bundled_migrations,
    migrate,
)


async def test_migrating_twice_applies_nothing_the_second_time(
    stack: CommonSettings, pg_pool: asyncpg.Pool
) -> None:
    conn = await connect(stack.postgres)
    try:
        assert await migrate(conn) == []
    finally:
        await conn.close()
    versions = [r["version"] for r in await pg_pool.fetch("SELECT version FROM schema_migrations")]
    # Every bundled migration is recorded (the shared database may also hold migrations of
    # numbers reserved for others, which this runner leaves alone).
    assert {m.version for m in bundled_migrations()} <= set(versions)


async def test_migrations_apply_in_a_transaction_and_refuse_edited_ones(
    stack: CommonSettings,
) -> None:
    schema = f"test_migrate_{uuid.uuid4().hex[:10]}"
    conn = await connect(stack.postgres)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET search_path TO {schema}")
        first = Migration(1, "first", "CREATE TABLE t (id int)")
        assert await migrate(conn, [first]) == ["001_first"]
        broken = Migration(2, "broken", "CREATE TABLE u (id int); SELECT no_such_function()")
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, [first, broken])
        # Nothing of the failed run stayed: neither its table nor its record.
        assert await conn.fetchval("SELECT to_regclass('u')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, [Migration(1, "first", "CREATE TABLE t (id bigint)")])
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def test_api_keys_are_stored_hashed_and_can_be_revoked(
    pg_pool: asyncpg.Pool, unique: str
) -> None:
    owner = f"keys-{unique}"
    key = await create_key(pg_pool, owner)
    assert await owner_for_key(pg_pool, key) == owner
    stored = await pg_pool.fetch("SELECT key_sha256 FROM api_keys WHERE owner = $1", owner)
    assert len(stored) == 1 and key not in stored[0]["key_sha256"]
    assert await owner_for_key(pg_pool, key + "x") is None
    assert await owner_for_key(pg_pool, None) is None
    assert await store_key(pg_pool, key, owner) is False  # idempotent
    assert await revoke_key(pg_pool, key) is True
    assert await owner_for_key(pg_pool, key) is None
    assert await revoke_key(pg_pool, key) is False


async def test_migrate_command_seeds_the_development_key_once(
    pg_pool: asyncpg.Pool, unique: str
) -> None:
    env = {**os.environ, "CLEARCUT_DEV_KEY": f"dev-{unique}", "CLEARCUT_DEV_OWNER": f"dev-{unique}"}
    outputs = []
    for _ in range(2):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli.upload",
            "db",
            "migrate",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, output.decode()
        outputs.append(output.decode())
    assert "seeded the development API key" in outputs[0]
    assert "seeded" not in outputs[1] and "up to date" in outputs[1]
    assert await owner_for_key(pg_pool, f"dev-{unique}") == f"dev-{unique}"
