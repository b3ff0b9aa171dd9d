"""Deleting an owner's image: publish ImageDeleted, remember it in the upload ledger.

The projector marks the rows deleted and asks the purger to remove the objects; the
ledger's mark lets the API answer 410 at once, before the projector has caught up.
Deleting an image that is already deleted publishes nothing and answers the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from schemas import ImageDeleted, new_event_id, utc_now
from services.common.kafka.producer import PublishFailed
from services.upload.adapters.errors import Unavailable
from services.upload.adapters.read_model import ReadModel
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.images import not_found, plausible_id
from services.upload.ports import Ledger, Publisher

logger = logging.getLogger(__name__)

MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class Deleted:
    image_id: str
    deleted_at: datetime
    already: bool  # True: it was deleted before; nothing was published this time


class DeletionService:
    def __init__(
        self, *, read_model: ReadModel, ledger: Ledger, publisher: Publisher, publish_timeout: float
    ) -> None:
        self._read_model = read_model
        self._ledger = ledger
        self._publisher = publisher
        self._publish_timeout = publish_timeout

    async def delete(
        self, owner: str, image_id: str, *, deleted_by: str | None = None, reason: str | None = None
    ) -> Deleted:
        """Delete ``owner``'s image; 404 when it is not theirs (or does not exist)."""
        if reason is not None and len(reason) > MAX_REASON:
            raise Rejected(
                ErrorCode.INVALID_OPTION,
                f"reason is {len(reason)} characters; at most {MAX_REASON} are kept",
                option="reason",
            )
        if not plausible_id(image_id):
            raise not_found(image_id)
        image = await self._read_model.image(owner, image_id)
        if image is not None and image.deleted and image.deleted_at is not None:
            return Deleted(image_id, image.deleted_at, already=True)
        marked = await self._ledger.deleted_at(owner, image_id)
        if marked is not None:
            return Deleted(image_id, marked, already=True)
        if image is None and await self._ledger.published_event(owner, image_id) is None:
            raise not_found(image_id)
        event = ImageDeleted(
            event_id=new_event_id(),
            image_id=image_id,
            owner=owner,
            occurred_at=utc_now(),
            deleted_by=deleted_by or owner,
            reason=reason,
        )
        try:
            await self._publisher.publish(event, ack_within=self._publish_timeout)
        except PublishFailed as exc:
            raise Unavailable("kafka", f"{type(exc).__name__}: {exc}") from exc
        await self._ledger.mark_deleted(owner, image_id, event.occurred_at)
        logger.info("deleted image %s", image_id, extra={"image_id": image_id, "owner": owner})
        return Deleted(image_id, event.occurred_at, already=False)
