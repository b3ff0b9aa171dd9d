"""Accepting an upload: validate, store, publish -- all of it or nothing.

1. Hash and inspect the bytes in a worker thread (`Rejected` when they are no valid image).
2. With an `Idempotency-Key` seen before: answer with the same image, publish nothing.
3. Reserve the upload in the ledger, store the original with its content type and SHA-256,
   publish ImageUploaded and wait for the broker's acknowledgement (acks=all).
4. If storing or publishing fails, the object and the reservation are removed again and the
   caller gets `Unavailable` (the API answers 503 with Retry-After).

If the process dies between storing and publishing, the reservation stays `pending`; the
sweep (`sweep_abandoned`) later removes the object, or marks the upload published when the
read model shows that the event did get out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from schemas import ImageUploaded, OriginalImage, ProcessingOptions, new_event_id, utc_now
from services.common.kafka.producer import PublishFailed
from services.upload.adapters.errors import Unavailable
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.idempotency import check_key, fingerprint, replay_of
from services.upload.domain.image_check import ImageFacts, ImageLimits, inspect_image
from services.upload.ports import BlobStore, Ledger, Publisher

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    event: ImageUploaded
    replayed: bool  # True: an earlier upload answered again for its Idempotency-Key


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    bucket: str
    limits: ImageLimits
    publish_timeout: float


class Admission(Protocol):
    """What an upload is charged once its size is known (the key's quota and rate), and
    given back when it is not accepted after all."""

    async def admit(self, facts: ImageFacts) -> None: ...

    async def refund(self) -> None: ...


def object_key(owner: str, image_id: str) -> str:
    return f"{owner}/{image_id}"


def _examine(body: bytes, limits: ImageLimits) -> tuple[str, ImageFacts]:
    facts = inspect_image(body, limits)
    return hashlib.sha256(body).hexdigest(), facts


class UploadService:
    def __init__(
        self,
        *,
        blobs: BlobStore,
        publisher: Publisher,
        ledger: Ledger,
        executor: Executor,
        policy: UploadPolicy,
    ) -> None:
        self._blobs = blobs
        self._publisher = publisher
        self._ledger = ledger
        self._executor = executor
        self._policy = policy

    async def accept(
        self,
        owner: str,
        body: bytes,
        options: ProcessingOptions,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        admission: Admission | None = None,
    ) -> Accepted:
        """Validate, store and publish one upload. ``admission`` is charged after the image
        is validated and before anything is stored (an idempotent replay is not charged),
        and refunded when the upload is not accepted after all."""
        key = check_key(idempotency_key)
        loop = asyncio.get_running_loop()
        sha256, facts = await loop.run_in_executor(
            self._executor, _examine, body, self._policy.limits
        )
        request_fingerprint = fingerprint(sha256, options, callback_url)
        if key is not None:
            replayed = await self._replay(owner, key, request_fingerprint)
            if replayed is not None:
                return replayed
        if admission is not None:
            await admission.admit(facts)
        try:
            accepted = await self._accept_new(
                owner, body, sha256, facts, options, key, request_fingerprint, callback_url
            )
        except BaseException:
            if admission is not None:
                await asyncio.shield(admission.refund())
            raise
        if accepted.replayed and admission is not None:
            await admission.refund()
        return accepted

    async def _accept_new(
        self,
        owner: str,
        body: bytes,
        sha256: str,
        facts: ImageFacts,
        options: ProcessingOptions,
        key: str | None,
        request_fingerprint: str,
        callback_url: str | None,
    ) -> Accepted:
        event = self._event(owner, body, sha256, facts, options, callback_url)
        if not await self._ledger.reserve(event, key, request_fingerprint):
            # Another request with the same key reserved it first.
            assert key is not None
            replayed = await self._replay(owner, key, request_fingerprint)
            if replayed is None:
                raise Rejected(
                    ErrorCode.IDEMPOTENCY_KEY_IN_USE,
                    "an upload with this Idempotency-Key is in progress; retry shortly",
                )
            return replayed
        try:
            await self._store_and_publish(event, body)
        except BaseException:
            await asyncio.shield(self._undo(event))
            raise
        try:
            await self._ledger.mark_published(event.image_id)
        except Unavailable:
            # The event is out; the sweep will see it in the read model and settle the row.
            logger.warning("could not mark upload %s published", event.image_id, exc_info=True)
        logger.info(
            "accepted upload %s (%s, %d bytes, %dx%d)",
            event.image_id,
            facts.content_type,
            len(body),
            facts.width,
            facts.height,
            extra={"image_id": event.image_id, "owner": owner},
        )
        return Accepted(event, replayed=False)

    async def _replay(self, owner: str, key: str, request_fingerprint: str) -> Accepted | None:
        prior = await self._ledger.find(owner, key)
        if prior is None:
            return None
        image_id = replay_of(prior, request_fingerprint)
        event = await self._ledger.published_event(owner, image_id)
        if event is None:  # discarded in between
            return None
        return Accepted(event, replayed=True)

    def _event(
        self,
        owner: str,
        body: bytes,
        sha256: str,
        facts: ImageFacts,
        options: ProcessingOptions,
        callback_url: str | None,
    ) -> ImageUploaded:
        image_id = str(uuid.uuid4())
        return ImageUploaded(
            event_id=new_event_id(),
            image_id=image_id,
            owner=owner,
            occurred_at=utc_now(),
            task_id=str(uuid.uuid4()),
            original=OriginalImage(
                bucket=self._policy.bucket,
                key=object_key(owner, image_id),
                size=len(body),
                content_type=facts.content_type,
                sha256=sha256,
                width=facts.width,
                height=facts.height,
            ),
            options=options,
            callback_url=callback_url,
        )

    async def _store_and_publish(self, event: ImageUploaded, body: bytes) -> None:
        original = event.original
        await self._blobs.put(
            original.bucket,
            original.key,
            body,
            original.content_type,
            {"sha256": original.sha256, "owner": event.owner, "image-id": event.image_id},
        )
        try:
            await self._publisher.publish(event, ack_within=self._policy.publish_timeout)
        except PublishFailed as exc:
            raise Unavailable("kafka", str(exc)) from exc

    async def _undo(self, event: ImageUploaded) -> None:
        """Remove what a failed upload stored; what cannot be removed now, the sweep will.

        When the original cannot be removed (the object store is down), the pending row stays
        for the sweep, but its Idempotency-Key is released: the client's retry after the 503
        must be able to upload again rather than read `idempotency_key_in_use`."""
        try:
            await self._blobs.delete(event.original.bucket, event.original.key)
        except Exception:
            logger.warning(
                "could not remove the original of failed upload %s; the sweep will",
                event.image_id,
                exc_info=True,
                extra={"image_id": event.image_id},
            )
            removed = False
        else:
            removed = True
        try:
            if removed:
                await self._ledger.discard(event.image_id)
            else:
                await self._ledger.release_key(event.image_id)
        except Exception:
            logger.warning("could not undo upload %s", event.image_id, exc_info=True)
