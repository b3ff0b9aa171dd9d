"""The webhooks service's PostgreSQL pool and the driver errors that mean "unavailable"."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg

from services.common.postgres import TRANSIENT_POSTGRES_ERRORS
from services.common.settings import PostgresSettings

UNAVAILABLE_ERRORS = TRANSIENT_POSTGRES_ERRORS


class StoreUnavailable(Exception):
    """PostgreSQL could not be reached; the event is retried, never dead-lettered."""

    retriable = True


@contextlib.contextmanager
def postgres_errors() -> Iterator[None]:
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        raise StoreUnavailable(f"postgres unavailable: {type(exc).__name__}: {exc}") from exc


async def create_pool(settings: PostgresSettings, max_size: int) -> asyncpg.Pool:
    """Connections are opened on demand, so the service starts (not ready) while PostgreSQL
    is unreachable."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=10,
        init=_json_codec,
    )
    return pool


async def connect(settings: PostgresSettings) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(settings.dsn, timeout=10)
    await _json_codec(conn)
    return conn


async def _json_codec(conn: asyncpg.Connection) -> None:
    import json

    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def ping(pool: asyncpg.Pool, within: float) -> None:
    await pool.fetchval("SELECT 1", timeout=within)
