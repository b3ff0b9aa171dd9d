"""A read model of a test's own: every migration applied in a fresh PostgreSQL schema, and
settings whose connections resolve table names in it (for code that replaces whole tables,
which must never touch the shared schema other tests use)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from services.common.settings import CommonSettings, PostgresSettings
from services.upload.adapters.postgres import connect
from services.upload.migrations.runner import migrate


class SchemaPostgresSettings(PostgresSettings):
    """Connections made from `dsn` use ``search_path`` (asyncpg takes unknown DSN query
    parameters as server settings)."""

    search_path: str = "public"

    @property
    def dsn(self) -> str:
        return f"{super().dsn}?search_path={self.search_path}"


@asynccontextmanager
async def isolated_schema(common: CommonSettings) -> AsyncIterator[SchemaPostgresSettings]:
    schema = f"test_rm_{uuid.uuid4().hex[:12]}"
    conn = await connect(common.postgres)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET search_path TO {schema}")
        await migrate(conn)
        values: dict[str, Any] = dict(common.postgres)
        yield SchemaPostgresSettings(**values, search_path=schema)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema}_rebuild CASCADE")
        await conn.close()
