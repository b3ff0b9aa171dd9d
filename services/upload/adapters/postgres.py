"""PostgreSQL connections: the pool, JSON codecs, and driver errors as `Unavailable`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from services.common.postgres import TRANSIENT_POSTGRES_ERRORS
from services.common.settings import PostgresSettings
from services.upload.adapters.errors import Unavailable


@contextmanager
def postgres_errors() -> Iterator[None]:
    """Translate transient driver errors into `Unavailable`; anything else is a bug."""
    try:
        yield
    except TRANSIENT_POSTGRES_ERRORS as exc:
        raise Unavailable("postgres", f"{type(exc).__name__}: {exc}") from exc


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(pg: PostgresSettings, *, search_path: str | None = None) -> asyncpg.Connection:
    """One connection; ``search_path`` makes unqualified table names resolve in that schema."""
    settings = {"search_path": search_path} if search_path else None
    with postgres_errors():
        conn = await asyncpg.connect(pg.dsn, timeout=5, server_settings=settings)
    await _init_connection(conn)
    return conn


async def create_pool(pg: PostgresSettings, min_size: int, max_size: int) -> asyncpg.Pool:
    """A pool whose connections decode json/jsonb columns to Python values."""
    with postgres_errors():
        pool: asyncpg.Pool = await asyncpg.create_pool(
            pg.dsn,
            min_size=min(min_size, max_size),
            max_size=max_size,
            init=_init_connection,
            timeout=5,
            command_timeout=30,
        )
    return pool
