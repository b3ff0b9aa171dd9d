"""An owner's request to process one of their images again (`POST /v1/images/{id}/reprocess`).

The same request a replay sends for one image: a new ImageUploaded for a new task, built
from the image's original upload (kept in the upload ledger), with the owner as requester.
With an `Idempotency-Key` the request's ids are derived from the key and the request, so a
retry publishes the identical event (consumers ignore it) and is answered as a replay once
the read model knows the task.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from schemas import ImageUploaded, utc_now
from services.common.kafka.producer import PublishFailed
from services.upload.adapters.errors import Unavailable
from services.upload.adapters.read_model import ReadModel
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.idempotency import check_key
from services.upload.domain.options import parse_model
from services.upload.domain.reprocess import reprocess_request
from services.upload.images import ImageQueries
from services.upload.ports import Ledger, Publisher

logger = logging.getLogger(__name__)

MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class Reprocessing:
    event: ImageUploaded
    replayed: bool  # True: a retry of a request the read model already shows


def request_id(
    owner: str, image_id: str, key: str | None, model: str | None, reason: str | None
) -> str:
    """The request's replay id: random, or derived from the Idempotency-Key and what is asked
    (the same key with another model or reason is another request)."""
    if key is None:
        return f"api-{uuid.uuid4().hex}"
    digest = hashlib.sha256("\n".join((owner, image_id, key, model or "", reason or "")).encode())
    return f"api-{digest.hexdigest()[:40]}"


class ReprocessService:
    def __init__(
        self,
        *,
        images: ImageQueries,
        ledger: Ledger,
        read_model: ReadModel,
        publisher: Publisher,
        publish_timeout: float,
        known_models: Collection[str] | None = None,
    ) -> None:
        self._known_models = known_models
        self._images = images
        self._ledger = ledger
        self._read_model = read_model
        self._publisher = publisher
        self._publish_timeout = publish_timeout

    async def request(
        self,
        owner: str,
        image_id: str,
        *,
        model: str | None,
        reason: str | None,
        idempotency_key: str | None = None,
    ) -> Reprocessing:
        key = check_key(idempotency_key)
        chosen = parse_model(model, self._known_models)
        if reason is not None and len(reason) > MAX_REASON:
            raise Rejected(
                ErrorCode.INVALID_OPTION,
                f"reason is {len(reason)} characters; at most {MAX_REASON} are kept",
                option="reason",
            )
        record = await self._images.find(owner, image_id)  # 404 unless it is the owner's image
        if self._images.original_expired(record):
            expired_at = self._images.original_expires_at(record)
            raise Rejected(
                ErrorCode.ORIGINAL_EXPIRED,
                f"the original of image {image_id} was kept until "
                f"{expired_at:%Y-%m-%d %H:%M} UTC and is removed; it cannot be processed again",
                expired_at=None if expired_at is None else expired_at.isoformat(),
            )
        original = await self._ledger.published_event(owner, image_id)
        if original is None:
            raise Rejected(
                ErrorCode.ORIGINAL_UNAVAILABLE,
                f"the original upload of image {image_id} is not on record; it cannot be "
                "processed again",
            )
        replay_id = request_id(owner, image_id, key, chosen, reason)
        event = reprocess_request(
            original,
            replay_id=replay_id,
            requested_by=owner,
            reason=reason,
            model=chosen,
            now=utc_now(),
        )
        if key is not None and await self._read_model.task(event.task_id) is not None:
            return Reprocessing(event, replayed=True)
        try:
            await self._publisher.publish(event, ack_within=self._publish_timeout)
        except PublishFailed as exc:
            raise Unavailable("kafka", f"{type(exc).__name__}: {exc}") from exc
        logger.info(
            "reprocessing %s as task %s (model %s)",
            image_id,
            event.task_id,
            event.options.model or "default",
            extra={"image_id": image_id, "owner": owner},
        )
        return Reprocessing(event, replayed=False)
