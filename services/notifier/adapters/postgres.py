"""The notifier's PostgreSQL pool and the driver errors it treats as "unavailable"."""

from __future__ import annotations

import asyncio

import asyncpg

from services.common.settings import PostgresSettings

# Errors meaning the database could not answer now (down, restarting, overloaded).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    asyncio.TimeoutError,
)


async def create_pool(settings: PostgresSettings, max_size: int) -> asyncpg.Pool:
    """A pool that opens connections on demand, so the notifier starts (and reports not
    ready) while PostgreSQL is unreachable."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.dsn, min_size=0, max_size=max_size, command_timeout=10
    )
    return pool


async def ping(pool: asyncpg.Pool, within: float) -> None:
    await pool.fetchval("SELECT 1", timeout=within)
