"""Reading an owner's image: from the read model, or from the upload ledger while the
projector has not caught up yet; finding a finished task's result; listing the owner's
images. A deleted image answers 410 `image_deleted` to its owner (404 to anyone else), as
soon as the API has published its deletion."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import ImageDownloaded, ResultKind, new_event_id, utc_now
from services.common.kafka.producer import PublishFailed
from services.upload.adapters.read_model import ReadModel
from services.upload.domain.errors import ErrorCode, Rejected, shown
from services.upload.domain.foreground import box_in_result
from services.upload.domain.listing import Page, PageRequest
from services.upload.domain.progress import ImageStatus, TaskStatus
from services.upload.domain.projection import ImageState, TaskState, apply_to_image, apply_to_task
from services.upload.domain.retention import Retention
from services.upload.ports import Ledger, Publisher

logger = logging.getLogger(__name__)
_IDENTIFIER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True, slots=True)
class ImageRecord:
    image: ImageState
    tasks: list[TaskState]

    @property
    def current_task(self) -> TaskState | None:
        return next((t for t in self.tasks if t.id == self.image.current_task_id), None)

    @property
    def result_task(self) -> TaskState | None:
        """The task whose result is served: the current task once completed; while a newer
        request (a reprocessing) is not completed, the latest requested completed task."""
        current = self.current_task
        if current is not None and current.status is TaskStatus.COMPLETED and current.results:
            return current
        return next(
            (t for t in reversed(self.tasks) if t.status is TaskStatus.COMPLETED and t.results),
            None,
        )


@dataclass(frozen=True, slots=True)
class ResultObjectRef:
    task_id: str
    kind: ResultKind
    bucket: str
    key: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    # The subject's box in this object's pixels (from `ProcessingCompleted.foreground`).
    foreground: dict[str, int] | None = None


def _box_in(found: dict[str, Any], record: ImageRecord, task: TaskState) -> dict[str, int] | None:
    """The task's foreground box in the pixels of the result object ``found`` (the mask's
    own for the mask; the cut-out's after its crop and size preset)."""
    if task.foreground is None or "width" not in found or "height" not in found:
        return None
    shape = task.requested_shape if found.get("kind") == ResultKind.CUTOUT.value else None
    return box_in_result(
        task.foreground,
        (record.image.width, record.image.height),
        (int(found["width"]), int(found["height"])),
        shape,
    )


def plausible_id(image_id: str) -> bool:
    return 0 < len(image_id) <= 128 and image_id[0].isalnum() and set(image_id) <= _IDENTIFIER_CHARS


def not_found(image_id: str) -> Rejected:
    return Rejected(ErrorCode.NOT_FOUND, f"no image {shown(image_id, 64)} among your images")


def gone(image_id: str, deleted_at: datetime | None) -> Rejected:
    return Rejected(
        ErrorCode.IMAGE_DELETED,
        f"image {image_id} was deleted; its original and results are removed",
        deleted_at=None
        if deleted_at is None
        else deleted_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    )


class ImageQueries:
    def __init__(
        self,
        read_model: ReadModel,
        ledger: Ledger,
        publisher: Publisher,
        publish_timeout: float,
        retention: Retention,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._read_model = read_model
        self._ledger = ledger
        self._publisher = publisher
        self._publish_timeout = publish_timeout
        self._retention = retention
        self._clock = clock

    def _expired(self, image: ImageState, served: TaskState | None) -> ImageState:
        """The image as read now: `expired` once the served result's retention passed."""
        if (
            image.status is ImageStatus.COMPLETED
            and served is not None
            and self._retention.results_expired(served, self._clock())
        ):
            return dataclasses.replace(image, status=ImageStatus.EXPIRED)
        return image

    def original_expires_at(self, record: ImageRecord) -> datetime | None:
        return self._retention.original_expires_at(record.tasks)

    def original_expired(self, record: ImageRecord) -> bool:
        return self._retention.original_expired(record.tasks, self._clock())

    async def find(self, owner: str, image_id: str) -> ImageRecord:
        """The owner's image; another owner's image is not found, exactly like a missing one."""
        if not plausible_id(image_id):
            raise not_found(image_id)
        image = await self._read_model.image(owner, image_id)
        if image is not None and image.deleted:
            raise gone(image_id, image.deleted_at)
        deleted_at = await self._ledger.deleted_at(owner, image_id)
        if deleted_at is not None:
            raise gone(image_id, deleted_at)  # the projector has not applied it yet
        if image is not None:
            tasks = await self._read_model.tasks(image_id)
            record = ImageRecord(image, tasks)
            return ImageRecord(self._expired(image, record.result_task), tasks)
        event = await self._ledger.published_event(owner, image_id)
        if event is None:
            raise not_found(image_id)
        # Accepted, but the projector has not applied it yet: show it as the projector will.
        task = apply_to_task(None, event)
        projected = apply_to_image(None, event, task)
        assert projected is not None
        return ImageRecord(projected, [task])

    async def result(self, owner: str, image_id: str, kind: ResultKind) -> ResultObjectRef:
        """Where the result of ``kind`` is (see `ImageRecord.result_task`); 409 while no
        task of the image is completed."""
        record = await self.find(owner, image_id)
        task = record.result_task
        if task is not None and self._retention.results_expired(task, self._clock()):
            expired_at = self._retention.results_expire_at(task)
            raise Rejected(
                ErrorCode.RESULT_EXPIRED,
                f"the results of image {image_id} were kept until {expired_at:%Y-%m-%d %H:%M} "
                "UTC and are removed; upload the image again to process it anew",
                expired_at=None if expired_at is None else expired_at.isoformat(),
            )
        if task is None or not task.results:
            raise Rejected(
                ErrorCode.RESULT_NOT_READY,
                f"image {image_id} is {record.image.status.value}; its result is available "
                "once it is completed",
                status=record.image.status.value,
            )
        found: dict[str, Any] | None = next(
            (r for r in task.results if r.get("kind") == kind.value), None
        )
        if found is None:
            raise Rejected(
                ErrorCode.NOT_FOUND, f"image {image_id} has no {kind.value} result", kind=kind
            )
        return ResultObjectRef(
            task_id=task.id,
            kind=kind,
            bucket=str(found["bucket"]),
            key=str(found["key"]),
            content_type=str(found["content_type"]),
            size=int(found["size"]),
            width=found.get("width"),
            height=found.get("height"),
            foreground=_box_in(found, record, task),
        )

    async def page(self, owner: str, request: PageRequest) -> Page:
        """A page of the owner's images, newest first; deleted ones are left out. Images
        appear once the projector has applied their upload."""
        page = await self._read_model.page(owner, request)
        images = [self._expired(i, page.current_tasks.get(i.current_task_id)) for i in page.images]
        return dataclasses.replace(page, images=images)

    async def record_download(self, owner: str, image_id: str, ref: ResultObjectRef) -> None:
        """Publish ImageDownloaded. A download is never refused because of it: a failure
        is logged and the result is served anyway."""
        event = ImageDownloaded(
            event_id=new_event_id(),
            image_id=image_id,
            owner=owner,
            occurred_at=utc_now(),
            task_id=ref.task_id,
            kind=ref.kind,
        )
        try:
            await self._publisher.publish(event, ack_within=self._publish_timeout)
        except PublishFailed:
            logger.warning("could not publish ImageDownloaded for %s", image_id, exc_info=True)
