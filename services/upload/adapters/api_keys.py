"""Managing API keys: their settings, revocation and rotation (operators, via `clearcut
keys`). Keys are addressed by their id (`key_` + the first 16 hex digits of the key's
SHA-256), which names a key without revealing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.common.auth import ACTIVE_KEY, DEFAULT_SCOPES, Scope, check_owner, generate_key
from services.common.auth import hash_key as digest_of

_COLUMNS = (
    "id, owner, label, scopes, rate_per_minute, max_concurrent, monthly_megapixels, "
    "created_at, expires_at, revoked_at, replaced_by, "
    f"({ACTIVE_KEY}) AS active"
)
SETTINGS = ("label", "scopes", "rate_per_minute", "max_concurrent", "monthly_megapixels")


class KeyNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    owner: str
    label: str | None
    scopes: tuple[str, ...]
    rate_per_minute: int | None  # None: the API's default
    max_concurrent: int | None
    monthly_megapixels: float | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None
    active: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "label": self.label,
            "scopes": list(self.scopes),
            "rate_per_minute": self.rate_per_minute,
            "max_concurrent": self.max_concurrent,
            "monthly_megapixels": self.monthly_megapixels,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at and self.expires_at.isoformat(),
            "revoked_at": self.revoked_at and self.revoked_at.isoformat(),
            "replaced_by": self.replaced_by,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True)
class KeySettings:
    """A key's settings; on an update, fields left None are not changed (`clear` names the
    limits to set back to the API's default)."""

    label: str | None = None
    scopes: tuple[Scope, ...] | None = None
    rate_per_minute: int | None = None
    max_concurrent: int | None = None
    monthly_megapixels: float | None = None
    expires_at: datetime | None = None
    clear: tuple[str, ...] = ()


def _info(row: asyncpg.Record) -> KeyInfo:
    return KeyInfo(
        id=row["id"],
        owner=row["owner"],
        label=row["label"],
        scopes=tuple(row["scopes"]),
        rate_per_minute=row["rate_per_minute"],
        max_concurrent=row["max_concurrent"],
        monthly_megapixels=row["monthly_megapixels"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        replaced_by=row["replaced_by"],
        active=row["active"],
    )


class KeyStore:
    def __init__(self, db: asyncpg.Connection | asyncpg.Pool) -> None:
        self._db = db

    async def list(
        self, owner: str | None = None, *, include_revoked: bool = False
    ) -> list[KeyInfo]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM api_keys "
            "WHERE ($1::text IS NULL OR owner = $1) "
            "AND ($2 OR revoked_at IS NULL OR revoked_at > now()) "
            "ORDER BY owner, created_at",
            owner,
            include_revoked,
        )
        return [_info(r) for r in rows]

    async def get(self, key_id: str) -> KeyInfo:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)
        if row is None:
            raise KeyNotFound(f"no API key has the id {key_id!r}")
        return _info(row)

    async def create(self, owner: str, settings: KeySettings) -> tuple[str, KeyInfo]:
        """A new key for ``owner``: the plain key (shown once, never stored) and its info."""
        check_owner(owner)
        key = generate_key()
        scopes = [s.value for s in settings.scopes or DEFAULT_SCOPES]
        await self._db.execute(
            "INSERT INTO api_keys (key_sha256, owner, label, scopes, rate_per_minute, "
            "max_concurrent, monthly_megapixels, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            digest_of(key),
            owner,
            settings.label,
            scopes,
            settings.rate_per_minute,
            settings.max_concurrent,
            settings.monthly_megapixels,
            settings.expires_at,
        )
        return key, await self.get("key_" + digest_of(key)[:16])

    async def update(self, key_id: str, settings: KeySettings) -> KeyInfo:
        changes: dict[str, Any] = {
            name: getattr(settings, name)
            for name in (*SETTINGS, "expires_at")
            if getattr(settings, name) is not None
        }
        if "scopes" in changes:
            changes["scopes"] = [s.value for s in changes["scopes"]]
        for name in settings.clear:
            changes[name] = None
        if changes:
            names = list(changes)
            assignments = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
            status = await self._db.execute(
                f"UPDATE api_keys SET {assignments} WHERE id = $1",
                key_id,
                *(changes[n] for n in names),
            )
            if status.endswith(" 0"):
                raise KeyNotFound(f"no API key has the id {key_id!r}")
        return await self.get(key_id)

    async def revoke(self, key_id: str, at: datetime | None = None) -> KeyInfo:
        """Revoke the key now (or at ``at``); a key already revoked earlier keeps that time."""
        status = await self._db.execute(
            "UPDATE api_keys SET revoked_at = COALESCE($2, now()) "
            "WHERE id = $1 AND (revoked_at IS NULL OR revoked_at > COALESCE($2, now()))",
            key_id,
            at,
        )
        info = await self.get(key_id)
        if status.endswith(" 0") and info.revoked_at is None:
            raise KeyNotFound(f"no API key has the id {key_id!r}")
        return info

    async def rotate(self, key_id: str, grace_seconds: float = 0) -> tuple[str, KeyInfo]:
        """A new key with the old one's owner and settings; the old one is revoked after
        ``grace_seconds`` (0: at once) and names its replacement."""
        old = await self.get(key_id)
        if old.revoked_at is not None:
            raise KeyNotFound(f"API key {key_id!r} is revoked; create a new one instead")
        settings = KeySettings(
            label=old.label,
            scopes=tuple(Scope(s) for s in old.scopes),
            rate_per_minute=old.rate_per_minute,
            max_concurrent=old.max_concurrent,
            monthly_megapixels=old.monthly_megapixels,
            expires_at=old.expires_at,
        )
        key, new = await self.create(old.owner, settings)
        await self._db.execute(
            "UPDATE api_keys SET revoked_at = now() + make_interval(secs => $2), "
            "replaced_by = $3 WHERE id = $1",
            key_id,
            float(grace_seconds),
            new.id,
        )
        return key, new
