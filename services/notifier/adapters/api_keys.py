"""Who is behind an API key: the upload API's keys, looked up in PostgreSQL."""

from __future__ import annotations

import asyncpg

from services.common.auth import Scope, active_digests, owner_for_key
from services.notifier.adapters.postgres import UNAVAILABLE_ERRORS


class KeysUnavailable(Exception):
    """The key store cannot be reached; the client may try again later."""

    retriable = True


class ApiKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def owner_for(self, key: str | None) -> str | None:
        """The owner of an active key holding `images:read`; None for a missing, unknown,
        revoked or expired one, or one without that scope."""
        try:
            return await owner_for_key(self._pool, key, Scope.IMAGES_READ)
        except UNAVAILABLE_ERRORS as exc:
            raise KeysUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def still_active(self, digests: set[str]) -> set[str]:
        """Those of the key digests whose keys are neither revoked nor expired."""
        try:
            return await active_digests(self._pool, sorted(digests))
        except UNAVAILABLE_ERRORS as exc:
            raise KeysUnavailable(f"{type(exc).__name__}: {exc}") from exc
