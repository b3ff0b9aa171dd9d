"""The fresh tables a rebuild fills, beside the live read model, and swapping them in.

For a read model in schema `S` the fresh tables live in schema `S_rebuild`, created with
`LIKE S.<table> INCLUDING ALL` (same columns, defaults, constraints and indexes). The
swap replaces the live tables' rows with the fresh ones in the caller's transaction, after
locking the live tables against writers (`EXCLUSIVE`: the live projector waits, readers
go on reading the old rows until the commit). The live tables themselves stay (same
objects, grants and index names), so nothing that holds prepared statements on them
notices anything but new rows.
"""

from __future__ import annotations

import re

import asyncpg

# Locked in this order: every projector transaction writes applied_events first.
READ_MODEL_TABLES = ("applied_events", "images", "processing_tasks", "image_deletions")
# Columns that record when a row was written, not what the events say.
NON_CONTENT_COLUMNS = {"applied_events": ("applied_at",)}
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")


class StagingError(RuntimeError):
    pass


async def current_schema(conn: asyncpg.Connection) -> str:
    schema: str = await conn.fetchval("SELECT current_schema()")
    return schema


class Staging:
    def __init__(self, conn: asyncpg.Connection, target: str) -> None:
        if not _SCHEMA_NAME.match(target):
            raise StagingError(f"schema name {target!r} is not a plain lowercase identifier")
        self._conn = conn
        self.target = target
        self.fresh = f"{target}_rebuild"

    async def check_target(self) -> None:
        for table in READ_MODEL_TABLES:
            found = await self._conn.fetchval("SELECT to_regclass($1)", f"{self.target}.{table}")
            if found is None:
                raise StagingError(
                    f"{self.target}.{table} does not exist: run `clearcut db migrate` first"
                )

    async def create(self) -> None:
        """(Re)create the fresh schema with empty copies of the read model's tables."""
        async with self._conn.transaction():
            await self._conn.execute(f"DROP SCHEMA IF EXISTS {self.fresh} CASCADE")
            await self._conn.execute(f"CREATE SCHEMA {self.fresh}")
            for table in READ_MODEL_TABLES:
                await self._conn.execute(
                    f"CREATE TABLE {self.fresh}.{table} (LIKE {self.target}.{table} INCLUDING ALL)"
                )

    async def drop(self) -> None:
        await self._conn.execute(f"DROP SCHEMA IF EXISTS {self.fresh} CASCADE")

    async def lock_live(self) -> None:
        """Keep writers off the live tables until the caller's transaction ends."""
        tables = ", ".join(f"{self.target}.{t}" for t in READ_MODEL_TABLES)
        await self._conn.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")

    async def events_only_live(self) -> int:
        """Events applied to the live model that the fresh one lacks."""
        count: int = await self._conn.fetchval(
            f"SELECT count(*) FROM {self.target}.applied_events live WHERE NOT EXISTS "
            f"(SELECT 1 FROM {self.fresh}.applied_events f WHERE f.event_id = live.event_id)"
        )
        return count

    async def columns(self, table: str, *, content_only: bool = False) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            f"{self.target}.{table}",
        )
        skip = NON_CONTENT_COLUMNS.get(table, ()) if content_only else ()
        return [row["attname"] for row in rows if row["attname"] not in skip]

    async def differences(self) -> dict[str, tuple[int, int]]:
        """Per table: rows only in the live table, rows only in the fresh one (content
        columns, as multisets)."""
        found: dict[str, tuple[int, int]] = {}
        for table in READ_MODEL_TABLES:
            cols = ", ".join(await self.columns(table, content_only=True))
            live = f"SELECT {cols} FROM {self.target}.{table}"
            fresh = f"SELECT {cols} FROM {self.fresh}.{table}"
            only_live: int = await self._conn.fetchval(
                f"SELECT count(*) FROM ({live} EXCEPT ALL {fresh}) d"
            )
            only_fresh: int = await self._conn.fetchval(
                f"SELECT count(*) FROM ({fresh} EXCEPT ALL {live}) d"
            )
            found[table] = (only_live, only_fresh)
        return found

    async def replace_live(self) -> dict[str, int]:
        """Replace the live rows with the fresh ones (call inside a transaction, after
        `lock_live`); returns the rows per table."""
        counts: dict[str, int] = {}
        for table in READ_MODEL_TABLES:
            cols = ", ".join(await self.columns(table))
            await self._conn.execute(f"DELETE FROM {self.target}.{table}")
            status: str = await self._conn.execute(
                f"INSERT INTO {self.target}.{table} ({cols}) "
                f"SELECT {cols} FROM {self.fresh}.{table}"
            )
            counts[table] = int(status.rsplit(" ", 1)[-1])
        return counts
