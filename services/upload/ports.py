"""The edges the upload flow depends on, as small interfaces (real adapters in `adapters/`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas import EventBase, ImageUploaded
from services.common.kafka.producer import Published
from services.upload.domain.idempotency import PriorUpload


@dataclass
class BlobStream:
    """An open object: its metadata and an iterator over its bytes (blocking; Starlette
    iterates it in a worker thread). `close` releases the connection."""

    content_type: str
    size: int
    chunks: Iterator[bytes]
    close: Callable[[], None]


class BlobStore(Protocol):
    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> None: ...

    async def delete(self, bucket: str, key: str) -> None: ...

    async def open(self, bucket: str, key: str) -> BlobStream: ...

    async def presigned_url(self, bucket: str, key: str, expiry_seconds: int) -> str: ...


class Publisher(Protocol):
    async def publish(self, event: EventBase, *, ack_within: float | None = None) -> Published:
        """Raises `services.common.kafka.producer.PublishFailed` when not acknowledged."""
        ...


class Ledger(Protocol):
    async def find(self, owner: str, idempotency_key: str) -> PriorUpload | None: ...

    async def reserve(
        self, event: ImageUploaded, idempotency_key: str | None, fingerprint: str
    ) -> bool: ...

    async def mark_published(self, image_id: str) -> None: ...

    async def discard(self, image_id: str) -> None: ...

    async def release_key(self, image_id: str) -> None: ...

    async def published_event(self, owner: str, image_id: str) -> ImageUploaded | None: ...

    async def deleted_at(self, owner: str, image_id: str) -> datetime | None: ...

    async def mark_deleted(self, owner: str, image_id: str, at: datetime) -> None: ...
