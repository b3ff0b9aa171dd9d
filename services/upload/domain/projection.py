"""The read model's rows as plain data, and how each event changes them. Pure.

`apply_to_task` and `apply_to_image` give the same rows whatever order the events of an
image arrive in (see `progress` for task status); the projector only loads the rows, calls
these, and writes the result. Row timestamps are event times, so a rebuild from the topics
reproduces the rows exactly.

Audit fields follow the same rule: `created_by` is who acted in the row's earliest event,
`updated_by` who acted in its latest (ties broken by name, so the order of arrival never
matters). Who acted (`actor`): the owner for an upload or a download, the requester for a
reprocessing or a deletion, `processor` for processing progress. A deletion (`Deletion`,
kept apart so that it also reaches rows whose upload comes later) marks the image and every
task of it deleted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import (
    Event,
    ImageDeleted,
    ImageDownloaded,
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
    TaskEvent,
)
from services.upload.domain.progress import (
    IMAGE_STATUS,
    ImageStatus,
    Progress,
    TaskStatus,
    supersedes,
)


@dataclass(frozen=True, slots=True)
class TaskState:
    """One row of `processing_tasks`."""

    id: str
    image_id: str
    owner: str
    status: TaskStatus
    attempt: int
    created_at: datetime
    updated_at: datetime
    requested_at: datetime | None = None
    output_format: str | None = None
    background: str | None = None
    requested_model: str | None = None
    requested_shape: dict[str, Any] | None = None
    reprocessing: dict[str, Any] | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_sha256: str | None = None
    provider: str | None = None
    worker_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    timings: dict[str, float] | None = None
    batch_size: int | None = None
    results: list[dict[str, Any]] | None = None
    reused_from_task_id: str | None = None
    foreground: dict[str, int] | None = None
    error_reason: str | None = None
    error_message: str | None = None
    error_retriable: bool | None = None
    downloads: int = 0
    last_downloaded_at: datetime | None = None
    created_by: str | None = None
    updated_by: str | None = None
    deleted: bool = False
    deleted_at: datetime | None = None
    deleted_by: str | None = None

    @property
    def progress(self) -> Progress:
        return Progress(self.status, self.attempt)


@dataclass(frozen=True, slots=True)
class ImageState:
    """One row of `images`."""

    id: str
    owner: str
    original_bucket: str
    original_key: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    status: ImageStatus
    current_task_id: str
    current_task_requested_at: datetime
    uploaded_at: datetime
    created_at: datetime
    updated_at: datetime
    created_by: str | None = None
    updated_by: str | None = None
    deleted: bool = False
    deleted_at: datetime | None = None
    deleted_by: str | None = None


@dataclass(frozen=True, slots=True)
class Deletion:
    """One row of `image_deletions`: the image's first deletion, and its latest one."""

    image_id: str
    owner: str
    deleted_at: datetime
    deleted_by: str
    event_id: str
    last_at: datetime
    last_by: str


PROCESSOR = "processor"


def actor(event: TaskEvent | ImageDeleted) -> str:
    """Who acted in ``event``, for `created_by` and `updated_by`."""
    if isinstance(event, ImageUploaded):
        return event.owner if event.reprocessing is None else event.reprocessing.requested_by
    if isinstance(event, ImageDeleted):
        return event.deleted_by
    if isinstance(event, ImageDownloaded):
        return event.owner
    return PROCESSOR


def _earliest(
    at: datetime, by: str | None, new_at: datetime, new_by: str
) -> tuple[datetime, str | None]:
    return min((at, by or ""), (new_at, new_by))


def _latest(
    at: datetime, by: str | None, new_at: datetime, new_by: str
) -> tuple[datetime, str | None]:
    return max((at, by or ""), (new_at, new_by))


def apply_deletion(current: Deletion | None, event: ImageDeleted) -> Deletion:
    """The deletion record after ``event``: the first deletion by time (then name, then
    event id) and the latest one, whatever order they arrive in."""
    first = (event.occurred_at, event.deleted_by, event.event_id)
    last = (event.occurred_at, event.deleted_by)
    if current is not None:
        first = min(first, (current.deleted_at, current.deleted_by, current.event_id))
        last = max(last, (current.last_at, current.last_by))
    return Deletion(
        image_id=event.image_id,
        owner=event.owner,
        deleted_at=first[0],
        deleted_by=first[1],
        event_id=first[2],
        last_at=last[0],
        last_by=last[1],
    )


def delete_task(task: TaskState, deletion: Deletion) -> TaskState:
    """The task marked deleted by ``deletion`` (idempotent)."""
    updated_at, updated_by = _latest(
        task.updated_at, task.updated_by, deletion.last_at, deletion.last_by
    )
    return dataclasses.replace(
        task,
        deleted=True,
        deleted_at=deletion.deleted_at,
        deleted_by=deletion.deleted_by,
        updated_at=updated_at,
        updated_by=updated_by,
    )


def delete_image(image: ImageState, deletion: Deletion) -> ImageState:
    """The image marked deleted by ``deletion`` (idempotent)."""
    updated_at, updated_by = _latest(
        image.updated_at, image.updated_by, deletion.last_at, deletion.last_by
    )
    return dataclasses.replace(
        image,
        deleted=True,
        deleted_at=deletion.deleted_at,
        deleted_by=deletion.deleted_by,
        updated_at=updated_at,
        updated_by=updated_by,
    )


def _placeholder(event: TaskEvent) -> TaskState:
    """A task known so far only from a later event (its ImageUploaded not yet applied)."""
    return TaskState(
        id=event.task_id,
        image_id=event.image_id,
        owner=event.owner,
        status=TaskStatus.PENDING,
        attempt=0,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        created_by=actor(event),
        updated_by=actor(event),
    )


def apply_to_task(task: TaskState | None, event: TaskEvent) -> TaskState:
    """The task row after `event` (every task event names a task)."""
    current = task or _placeholder(event)
    who = actor(event)
    created_at, created_by = _earliest(
        current.created_at, current.created_by, event.occurred_at, who
    )
    updated_at, updated_by = _latest(current.updated_at, current.updated_by, event.occurred_at, who)
    touched = dataclasses.replace(
        current,
        created_at=created_at,
        created_by=created_by,
        updated_at=updated_at,
        updated_by=updated_by,
    )
    if isinstance(event, ImageUploaded):
        return _requested(touched, event)
    if isinstance(event, ImageDownloaded):
        last = touched.last_downloaded_at
        return dataclasses.replace(
            touched,
            downloads=touched.downloads + 1,
            last_downloaded_at=event.occurred_at if last is None else max(last, event.occurred_at),
        )
    if isinstance(event, ProcessingStarted):
        return _started(touched, event)
    if isinstance(event, ProcessingCompleted):
        return _completed(touched, event)
    return _failed(touched, event)


def _requested(task: TaskState, event: ImageUploaded) -> TaskState:
    # The request's facts; they never change the task's progress.
    return dataclasses.replace(
        task,
        requested_at=event.occurred_at,
        output_format=event.options.output_format.value,
        background=event.options.background,
        requested_model=event.options.model,
        requested_shape=_shape(event),
        reprocessing=None
        if event.reprocessing is None
        else event.reprocessing.model_dump(mode="json"),
    )


def _shape(event: ImageUploaded) -> dict[str, Any] | None:
    """The options that shape the cut-out, when the upload set any."""
    options = event.options
    shape = {
        "crop": options.crop,
        "crop_margin": options.crop_margin,
        "channels": None if options.channels is None else options.channels.value,
        "size": None if options.size is None else options.size.value,
    }
    return shape if any(v is not None for v in shape.values()) else None


def _started(task: TaskState, event: ProcessingStarted) -> TaskState:
    incoming = Progress(TaskStatus.PROCESSING, event.attempt)
    if not supersedes(incoming, task.progress):
        if event.attempt == task.attempt and task.started_at is None:
            # A Started arriving after its own Completed or Failed still dates the attempt.
            return dataclasses.replace(task, started_at=event.occurred_at)
        return task
    return dataclasses.replace(
        task,
        status=TaskStatus.PROCESSING,
        attempt=event.attempt,
        worker_id=event.worker_id,
        model_name=event.model.name,
        model_version=event.model.version,
        model_sha256=event.model.sha256,
        provider=event.provider.value,
        started_at=event.occurred_at,
        finished_at=None,
        error_reason=None,
        error_message=None,
        error_retriable=None,
    )


def _completed(task: TaskState, event: ProcessingCompleted) -> TaskState:
    incoming = Progress(TaskStatus.COMPLETED, event.attempt)
    if not supersedes(incoming, task.progress):
        return task
    return dataclasses.replace(
        task,
        status=TaskStatus.COMPLETED,
        started_at=task.started_at if event.attempt == task.attempt else None,
        attempt=event.attempt,
        worker_id=event.worker_id,
        model_name=event.model.name,
        model_version=event.model.version,
        model_sha256=event.model.sha256,
        provider=event.provider.value,
        finished_at=event.occurred_at,
        duration_ms=event.timings.total_ms,
        timings=event.timings.model_dump(mode="json"),
        batch_size=event.batch_size,
        results=[result.model_dump(mode="json") for result in event.results],
        reused_from_task_id=event.reused_from_task_id,
        foreground=None if event.foreground is None else event.foreground.model_dump(mode="json"),
        error_reason=None,
        error_message=None,
        error_retriable=None,
    )


def _failed(task: TaskState, event: ProcessingFailed) -> TaskState:
    incoming = Progress(TaskStatus.FAILED, event.attempt)
    if not supersedes(incoming, task.progress):
        return task
    model = event.model
    return dataclasses.replace(
        task,
        status=TaskStatus.FAILED,
        started_at=task.started_at if event.attempt == task.attempt else None,
        attempt=event.attempt,
        worker_id=event.worker_id,
        model_name=model.name if model else task.model_name,
        model_version=model.version if model else task.model_version,
        model_sha256=model.sha256 if model else task.model_sha256,
        provider=event.provider.value if event.provider else task.provider,
        finished_at=event.occurred_at,
        error_reason=event.reason.value,
        error_message=event.message,
        error_retriable=event.retriable,
    )


def apply_to_image(
    image: ImageState | None, event: TaskEvent, task: TaskState
) -> ImageState | None:
    """The image row after `event`, given the event's task as it is after the event.

    None while the image's ImageUploaded has not been applied (nothing to show yet).
    """
    if isinstance(event, ImageUploaded):
        return _uploaded(image, event, task)
    if image is None:
        return None
    status = IMAGE_STATUS[task.status] if task.id == image.current_task_id else image.status
    updated_at, updated_by = _latest(
        image.updated_at, image.updated_by, event.occurred_at, actor(event)
    )
    return dataclasses.replace(image, status=status, updated_at=updated_at, updated_by=updated_by)


def _uploaded(image: ImageState | None, event: ImageUploaded, task: TaskState) -> ImageState:
    who = actor(event)
    if image is None:
        original = event.original
        # Events of the task applied before its upload count as updates too.
        updated_at, updated_by = _latest(task.updated_at, task.updated_by, event.occurred_at, who)
        return ImageState(
            id=event.image_id,
            owner=event.owner,
            original_bucket=original.bucket,
            original_key=original.key,
            content_type=original.content_type,
            size_bytes=original.size,
            width=original.width,
            height=original.height,
            sha256=original.sha256,
            status=IMAGE_STATUS[task.status],
            current_task_id=task.id,
            current_task_requested_at=event.occurred_at,
            uploaded_at=event.occurred_at,
            created_at=event.occurred_at,
            updated_at=updated_at,
            created_by=who,
            updated_by=updated_by,
        )
    created_at, created_by = _earliest(image.created_at, image.created_by, event.occurred_at, who)
    # As for a new image: events of this task applied before its upload count too.
    updated_at, updated_by = _latest(image.updated_at, image.updated_by, event.occurred_at, who)
    updated_at, updated_by = _latest(updated_at, updated_by, task.updated_at, task.updated_by or "")
    newer = (event.occurred_at, event.task_id) > (
        image.current_task_requested_at,
        image.current_task_id,
    )
    return dataclasses.replace(
        image,
        status=IMAGE_STATUS[task.status] if newer else image.status,
        current_task_id=task.id if newer else image.current_task_id,
        current_task_requested_at=event.occurred_at if newer else image.current_task_requested_at,
        uploaded_at=min(image.uploaded_at, event.occurred_at),
        created_at=created_at,
        created_by=created_by,
        updated_at=updated_at,
        updated_by=updated_by,
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """The rows of one image after an event: the image (None until its upload is applied),
    its deletion (None unless deleted), and the tasks the event changed."""

    image: ImageState | None
    deletion: Deletion | None
    tasks: dict[str, TaskState]


def apply_event(
    image: ImageState | None,
    deletion: Deletion | None,
    tasks: Mapping[str, TaskState],
    event: Event,
) -> Applied:
    """Every row change of ``event``. ``tasks`` holds the event's task when it exists and,
    for an ImageDeleted, every task of the image."""
    if isinstance(event, ImageDeleted):
        deletion = apply_deletion(deletion, event)
        changed = {
            t.id: delete_task(t, deletion) for t in tasks.values() if t.image_id == event.image_id
        }
        return Applied(None if image is None else delete_image(image, deletion), deletion, changed)
    task = tasks.get(event.task_id)
    new_task = apply_to_task(task, event)
    new_image = apply_to_image(image, event, new_task) or image
    if deletion is not None:
        new_task = delete_task(new_task, deletion)
        new_image = None if new_image is None else delete_image(new_image, deletion)
    return Applied(new_image, deletion, {} if new_task == task else {new_task.id: new_task})
