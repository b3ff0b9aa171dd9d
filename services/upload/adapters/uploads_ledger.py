"""The upload API's ledger of accepted uploads (table `uploads`), in PostgreSQL.

An upload is reserved (`pending`) before its object is stored and marked `published` once
its ImageUploaded is acknowledged. The ledger answers idempotent retries, serves an image
until the projector has caught up, and lets the sweep find uploads abandoned half-way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import asyncpg

from schemas import ImageUploaded
from services.upload.adapters.postgres import postgres_errors
from services.upload.domain.idempotency import PriorUpload, UploadState

DeleteBlob = Callable[[str, str], Awaitable[None]]
# Which of these pending uploads (id -> reserved at) have their event on the uploads topic.
Witness = Callable[[Mapping[str, datetime]], Awaitable[set[str]]]


class UploadLedger:
    def __init__(self, pool: asyncpg.Pool, idempotency_ttl_seconds: float = 86400.0) -> None:
        self._pool = pool
        self._key_ttl = idempotency_ttl_seconds

    async def find(self, owner: str, idempotency_key: str) -> PriorUpload | None:
        """The upload an owner's key names, while the key is honoured. A key older than its
        lifetime is released (taken off its upload), so the same key makes a new upload."""
        with postgres_errors():
            row = await self._pool.fetchrow(
                "SELECT image_id, state, request_fingerprint, "
                "created_at < now() - make_interval(secs => $3) AS expired FROM uploads "
                "WHERE owner = $1 AND idempotency_key = $2",
                owner,
                idempotency_key,
                self._key_ttl,
            )
            if row is not None and row["expired"]:
                await self._pool.execute(
                    "UPDATE uploads SET idempotency_key = NULL "
                    "WHERE image_id = $1 AND idempotency_key = $2",
                    row["image_id"],
                    idempotency_key,
                )
                return None
        if row is None:
            return None
        return PriorUpload(row["image_id"], UploadState(row["state"]), row["request_fingerprint"])

    async def reserve(
        self, event: ImageUploaded, idempotency_key: str | None, fingerprint: str
    ) -> bool:
        """Record a pending upload; False when the owner's key is already taken."""
        with postgres_errors():
            status: str = await self._pool.execute(
                "INSERT INTO uploads (image_id, owner, idempotency_key, request_fingerprint, "
                "state, bucket, object_key, event) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) "
                "ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL "
                "DO NOTHING",
                event.image_id,
                event.owner,
                idempotency_key,
                fingerprint,
                event.original.bucket,
                event.original.key,
                event.model_dump(mode="json"),
            )
        return status.endswith(" 1")

    async def mark_published(self, image_id: str) -> None:
        with postgres_errors():
            await self._pool.execute(
                "UPDATE uploads SET state = 'published', published_at = now() WHERE image_id = $1",
                image_id,
            )

    async def discard(self, image_id: str) -> None:
        with postgres_errors():
            await self._pool.execute(
                "DELETE FROM uploads WHERE image_id = $1 AND state = 'pending'", image_id
            )

    async def release_key(self, image_id: str) -> None:
        """Free the Idempotency-Key of a pending upload that failed, keeping its row for the
        sweep (which removes the original once the store answers)."""
        with postgres_errors():
            await self._pool.execute(
                "UPDATE uploads SET idempotency_key = NULL "
                "WHERE image_id = $1 AND state = 'pending'",
                image_id,
            )

    async def published_event(self, owner: str, image_id: str) -> ImageUploaded | None:
        """The ImageUploaded of a published upload of ``owner``."""
        with postgres_errors():
            data = await self._pool.fetchval(
                "SELECT event FROM uploads "
                "WHERE image_id = $1 AND owner = $2 AND state = 'published'",
                image_id,
                owner,
            )
        return None if data is None else ImageUploaded.model_validate(data)

    async def deleted_at(self, owner: str, image_id: str) -> datetime | None:
        """When the owner deleted the upload through this API, if they did."""
        with postgres_errors():
            at: datetime | None = await self._pool.fetchval(
                "SELECT deleted_at FROM uploads WHERE image_id = $1 AND owner = $2",
                image_id,
                owner,
            )
        return at

    async def mark_deleted(self, owner: str, image_id: str, at: datetime) -> None:
        """Record the deletion (the first one stays); nothing for an image not in the
        ledger."""
        with postgres_errors():
            await self._pool.execute(
                "UPDATE uploads SET deleted_at = least(coalesce(deleted_at, $3), $3) "
                "WHERE image_id = $1 AND owner = $2",
                image_id,
                owner,
                at,
            )

    async def sweep(
        self, older_than_seconds: float, delete_blob: DeleteBlob, on_topic: Witness
    ) -> list[str]:
        """Settle pending uploads older than the limit. Those whose event is out after all
        -- the projector knows the image, or ``on_topic`` finds the event on the uploads
        topic -- are marked published; only the others lose their object and their
        reservation. Returns the ids whose objects were removed. If ``on_topic`` cannot
        answer, it raises and nothing is deleted."""
        removed: list[str] = []
        with postgres_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    "SELECT u.image_id, u.bucket, u.object_key, u.created_at, "
                    "i.id IS NOT NULL AS projected "
                    "FROM uploads u LEFT JOIN images i ON i.id = u.image_id "
                    "WHERE u.state = 'pending' "
                    "AND u.created_at < now() - make_interval(secs => $1) "
                    "ORDER BY u.created_at LIMIT 100 FOR UPDATE OF u SKIP LOCKED",
                    older_than_seconds,
                )
                unprojected = {r["image_id"]: r["created_at"] for r in rows if not r["projected"]}
                published = await on_topic(unprojected) if unprojected else set()
                for row in rows:
                    if row["projected"] or row["image_id"] in published:
                        await conn.execute(
                            "UPDATE uploads SET state = 'published', published_at = now() "
                            "WHERE image_id = $1",
                            row["image_id"],
                        )
                        continue
                    await delete_blob(row["bucket"], row["object_key"])
                    await conn.execute("DELETE FROM uploads WHERE image_id = $1", row["image_id"])
                    removed.append(row["image_id"])
        return removed
