"""Who is behind an API key: the upload API's keys, looked up in PostgreSQL through the
read side's interface (the ``read_api_active_keys`` view), never the ``api_keys`` table."""

from __future__ import annotations

import asyncpg

from services.common.auth import Scope, hash_key
from services.notifier.adapters.postgres import UNAVAILABLE_ERRORS

OWNER_FOR_DIGEST = (
    "SELECT owner FROM read_api_active_keys WHERE key_sha256 = $1 AND $2 = ANY(scopes)"
)
STILL_ACTIVE = "SELECT key_sha256 FROM read_api_active_keys WHERE key_sha256 = ANY($1::text[])"
_MAX_KEY_LENGTH = 256


class KeysUnavailable(Exception):
    """The key store cannot be reached; the client may try again later."""

    retriable = True


class ApiKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def owner_for(self, key: str | None) -> str | None:
        """The owner of an active key holding `images:read`; None for a missing, unknown,
        revoked or expired one, or one without that scope."""
        if not key or len(key) > _MAX_KEY_LENGTH:
            return None
        try:
            owner = await self._pool.fetchval(
                OWNER_FOR_DIGEST, hash_key(key), Scope.IMAGES_READ.value
            )
        except UNAVAILABLE_ERRORS as exc:
            raise KeysUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return owner if isinstance(owner, str) else None

    async def still_active(self, digests: set[str]) -> set[str]:
        """Those of the key digests whose keys are neither revoked nor expired."""
        if not digests:
            return set()
        try:
            rows = await self._pool.fetch(STILL_ACTIVE, sorted(digests))
        except UNAVAILABLE_ERRORS as exc:
            raise KeysUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return {row["key_sha256"] for row in rows}
