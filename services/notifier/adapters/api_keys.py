"""Who is behind an API key: the upload API's keys, looked up in PostgreSQL through the
read side's interface (the ``read_api_active_keys`` view), never the ``api_keys`` table."""

from __future__ import annotations

import asyncpg

from services.common.auth import hash_key
from services.notifier.adapters.postgres import UNAVAILABLE_ERRORS

OWNER_FOR_DIGEST = "SELECT owner FROM read_api_active_keys WHERE key_sha256 = $1"
_MAX_KEY_LENGTH = 256


class KeysUnavailable(Exception):
    """The key store cannot be reached; the client may try again later."""

    retriable = True


class ApiKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def owner_for(self, key: str | None) -> str | None:
        """The owner of an active key; None for a missing, unknown or revoked one."""
        if not key or len(key) > _MAX_KEY_LENGTH:
            return None
        try:
            owner = await self._pool.fetchval(OWNER_FOR_DIGEST, hash_key(key))
        except UNAVAILABLE_ERRORS as exc:
            raise KeysUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return owner if isinstance(owner, str) else None
