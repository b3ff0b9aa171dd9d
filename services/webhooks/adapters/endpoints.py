"""Owners' webhook endpoints and callback secrets in PostgreSQL, as `clearcut webhooks`
manages them. A secret is returned once, when it is made; it is stored as is because the
service signs with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.webhooks.domain.payload import endpoint_id
from services.webhooks.domain.signing import generate_secret


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    owner: str
    url: str
    description: str | None
    created_at: datetime
    removed_at: datetime | None


class EndpointRegistry:
    def __init__(self, db: asyncpg.Connection | asyncpg.Pool) -> None:
        self._db = db

    async def add(self, owner: str, url: str, description: str | None) -> tuple[Endpoint, str]:
        secret = generate_secret()
        row = await self._db.fetchrow(
            "INSERT INTO webhook_endpoints (id, owner, url, secret, description) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING *",
            endpoint_id(),
            owner,
            url,
            secret,
            description,
        )
        return _endpoint(row), secret

    async def list(self, owner: str | None, *, removed: bool = False) -> list[Endpoint]:
        rows = await self._db.fetch(
            "SELECT * FROM webhook_endpoints WHERE ($1::text IS NULL OR owner = $1) "
            "AND ($2 OR removed_at IS NULL) ORDER BY owner, created_at",
            owner,
            removed,
        )
        return [_endpoint(row) for row in rows]

    async def remove(self, endpoint: str) -> Endpoint | None:
        """Stop sending to ``endpoint``; its pending deliveries are cancelled when due."""
        row = await self._db.fetchrow(
            "UPDATE webhook_endpoints SET removed_at = now() "
            "WHERE id = $1 AND removed_at IS NULL RETURNING *",
            endpoint,
        )
        return None if row is None else _endpoint(row)

    async def new_callback_secret(self, owner: str) -> str:
        """Make (or replace) the secret that signs deliveries to the owner's callback URLs."""
        secret = generate_secret()
        await self._db.execute(
            "INSERT INTO webhook_callback_secrets (owner, secret) VALUES ($1, $2) "
            "ON CONFLICT (owner) DO UPDATE SET secret = EXCLUDED.secret, created_at = now()",
            owner,
            secret,
        )
        return secret


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        id=row["id"],
        owner=row["owner"],
        url=row["url"],
        description=row["description"],
        created_at=row["created_at"],
        removed_at=row["removed_at"],
    )
