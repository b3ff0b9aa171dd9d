"""API keys and the owners they stand for, shared by the upload API and the notifier.

A key is a random, high-entropy token (``cc_`` + 43 URL-safe characters). Only its SHA-256
is stored, in the ``api_keys`` table of PostgreSQL (created by ``clearcut db migrate``), with
its owner and when it was created and revoked. Because keys carry 256 bits of entropy, an
unsalted fast hash is enough: nothing can be learnt from the stored digests by guessing.

Callers hand in their own asyncpg pool (or connection): ``owner_for_key(pool, key)``.

For the local stack, ``clearcut db migrate`` seeds one development key (``dev-key`` for the
owner ``dev`` by default, ``CLEARCUT_DEV_KEY``/``CLEARCUT_DEV_OWNER``); set
``CLEARCUT_DEV_KEY`` to an empty string anywhere else so that no well-known key exists.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

KEY_PREFIX = "cc_"
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_BEARER = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)
_MAX_KEY_LENGTH = 256


# A key counts when it is neither revoked nor expired (a rotation may revoke it later).
ACTIVE_KEY = (
    "(revoked_at IS NULL OR revoked_at > now()) AND (expires_at IS NULL OR expires_at > now())"
)


class Scope(StrEnum):
    """What a key may do. ``images:read``: status, results, lists, usage, the websocket;
    ``images:write``: upload, reprocess, delete; ``admin``: the operator's HTTP routes."""

    IMAGES_READ = "images:read"
    IMAGES_WRITE = "images:write"
    ADMIN = "admin"


DEFAULT_SCOPES = (Scope.IMAGES_READ, Scope.IMAGES_WRITE)


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_", extra="ignore")

    dev_key: SecretStr = Field(
        SecretStr("dev-key"),
        description="API key seeded by `clearcut db migrate` for the development owner; "
        "empty seeds none. Development default only: set it empty elsewhere.",
    )
    dev_owner: str = Field("dev", description="Owner of the seeded development key.")


class Queryable(Protocol):
    """What is needed of an asyncpg pool or connection."""

    async def fetchval(self, query: str, *args: object) -> object: ...

    async def execute(self, query: str, *args: object) -> str: ...


class InvalidOwner(ValueError):
    pass


def generate_key() -> str:
    """A fresh API key: 32 random bytes, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256, lowercase hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_owner(owner: str) -> str:
    """``owner`` if it can name an owner in events (1-128 of ``[A-Za-z0-9._@-]``)."""
    if not OWNER_PATTERN.match(owner):
        raise InvalidOwner(
            f"owner {owner!r} must be 1-128 characters of letters, digits, '.', '_', '@', '-', "
            "starting with a letter or digit"
        )
    return owner


def bearer_token(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header, or None."""
    if not authorization:
        return None
    match = _BEARER.match(authorization)
    if match is None or len(match.group(1)) > _MAX_KEY_LENGTH:
        return None
    return match.group(1)


async def owner_for_key(
    db: Queryable, key: str | None, scope: Scope = Scope.IMAGES_READ
) -> str | None:
    """The owner of an active (not revoked, not expired) key holding ``scope``, or None
    when the key is missing, unknown, revoked, expired or lacks the scope."""
    if not key or len(key) > _MAX_KEY_LENGTH:
        return None
    owner = await db.fetchval(
        f"SELECT owner FROM api_keys WHERE key_sha256 = $1 AND $2 = ANY(scopes) AND {ACTIVE_KEY}",
        hash_key(key),
        scope.value,
    )
    return owner if isinstance(owner, str) else None


class ManyQueryable(Protocol):
    async def fetch(self, query: str, *args: object) -> list[Any]: ...


async def active_digests(db: ManyQueryable, digests: Sequence[str]) -> set[str]:
    """Those of ``digests`` (``hash_key`` values) whose keys are still active."""
    if not digests:
        return set()
    rows = await db.fetch(
        f"SELECT key_sha256 FROM api_keys WHERE key_sha256 = ANY($1::text[]) AND {ACTIVE_KEY}",
        list(digests),
    )
    return {row["key_sha256"] for row in rows}


async def store_key(db: Queryable, key: str, owner: str) -> bool:
    """Store ``key`` for ``owner``; False when that key was already stored (idempotent)."""
    check_owner(owner)
    status = await db.execute(
        "INSERT INTO api_keys (key_sha256, owner) VALUES ($1, $2) "
        "ON CONFLICT (key_sha256) DO NOTHING",
        hash_key(key),
        owner,
    )
    return status.endswith(" 1")


async def create_key(db: Queryable, owner: str) -> str:
    """A new key for ``owner``, stored hashed; the plain key is returned once, never stored."""
    key = generate_key()
    await store_key(db, key, owner)
    return key


async def revoke_key(db: Queryable, key: str, at: datetime | None = None) -> bool:
    """Revoke ``key``; False when it is unknown or already revoked."""
    status = await db.execute(
        "UPDATE api_keys SET revoked_at = COALESCE($2, now()) "
        "WHERE key_sha256 = $1 AND revoked_at IS NULL",
        hash_key(key),
        at,
    )
    return status.endswith(" 1")
