"""The notifier's PostgreSQL pool and the driver errors it treats as "unavailable"."""

from __future__ import annotations

import asyncpg

from services.common.postgres import TRANSIENT_POSTGRES_ERRORS
from services.common.settings import PostgresSettings

# The database could not answer now (down, restarting, overloaded); other errors are bugs.
UNAVAILABLE_ERRORS = TRANSIENT_POSTGRES_ERRORS


async def create_pool(settings: PostgresSettings, max_size: int) -> asyncpg.Pool:
    """A pool that opens connections on demand, so the notifier starts (and reports not
    ready) while PostgreSQL is unreachable."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.dsn, min_size=0, max_size=max_size, command_timeout=10
    )
    return pool


async def ping(pool: asyncpg.Pool, within: float) -> None:
    await pool.fetchval("SELECT 1", timeout=within)
