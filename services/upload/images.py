"""Reading an owner's image: from the read model, or from the upload ledger while the
projector has not caught up yet; and finding a finished task's result."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

from schemas import ImageDownloaded, ResultKind, new_event_id, utc_now
from services.upload.adapters.read_model import ReadModel
from services.upload.domain.errors import ErrorCode, Rejected, shown
from services.upload.domain.progress import TaskStatus
from services.upload.domain.projection import ImageState, TaskState, apply_to_image, apply_to_task
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


def _plausible_id(image_id: str) -> bool:
    return 0 < len(image_id) <= 128 and image_id[0].isalnum() and set(image_id) <= _IDENTIFIER_CHARS


def _not_found(image_id: str) -> Rejected:
    return Rejected(ErrorCode.NOT_FOUND, f"no image {shown(image_id, 64)} among your images")


class ImageQueries:
    def __init__(
        self,
        read_model: ReadModel,
        ledger: Ledger,
        publisher: Publisher,
        publish_timeout: float,
    ) -> None:
        self._read_model = read_model
        self._ledger = ledger
        self._publisher = publisher
        self._publish_timeout = publish_timeout

    async def find(self, owner: str, image_id: str) -> ImageRecord:
        """The owner's image; another owner's image is not found, exactly like a missing one."""
        if not _plausible_id(image_id):
            raise _not_found(image_id)
        image = await self._read_model.image(owner, image_id)
        if image is not None:
            return ImageRecord(image, await self._read_model.tasks(image_id))
        event = await self._ledger.published_event(owner, image_id)
        if event is None:
            raise _not_found(image_id)
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
        )

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
            await asyncio.wait_for(self._publisher.publish(event), timeout=self._publish_timeout)
        except (KafkaError, TimeoutError):
            logger.warning("could not publish ImageDownloaded for %s", image_id, exc_info=True)
