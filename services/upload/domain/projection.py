"""The read model's rows as plain data, and how each event changes them. Pure.

`apply_to_task` and `apply_to_image` give the same rows whatever order the events of an
image arrive in (see `progress` for task status); the projector only loads the rows, calls
these, and writes the result. Row timestamps are event times, so a rebuild from the topics
reproduces the rows exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import (
    Event,
    ImageDownloaded,
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
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
    error_reason: str | None = None
    error_message: str | None = None
    error_retriable: bool | None = None
    downloads: int = 0
    last_downloaded_at: datetime | None = None

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


def _placeholder(event: Event) -> TaskState:
    """A task known so far only from a later event (its ImageUploaded not yet applied)."""
    return TaskState(
        id=event.task_id,
        image_id=event.image_id,
        owner=event.owner,
        status=TaskStatus.PENDING,
        attempt=0,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
    )


def apply_to_task(task: TaskState | None, event: Event) -> TaskState:
    """The task row after `event` (every event type names a task)."""
    current = task or _placeholder(event)
    touched = dataclasses.replace(
        current,
        created_at=min(current.created_at, event.occurred_at),
        updated_at=max(current.updated_at, event.occurred_at),
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
        reprocessing=None
        if event.reprocessing is None
        else event.reprocessing.model_dump(mode="json"),
    )


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


def apply_to_image(image: ImageState | None, event: Event, task: TaskState) -> ImageState | None:
    """The image row after `event`, given the event's task as it is after the event.

    None while the image's ImageUploaded has not been applied (nothing to show yet).
    """
    if isinstance(event, ImageUploaded):
        return _uploaded(image, event, task)
    if image is None:
        return None
    status = IMAGE_STATUS[task.status] if task.id == image.current_task_id else image.status
    return dataclasses.replace(
        image, status=status, updated_at=max(image.updated_at, event.occurred_at)
    )


def _uploaded(image: ImageState | None, event: ImageUploaded, task: TaskState) -> ImageState:
    if image is None:
        original = event.original
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
            # Events of the task applied before its upload count as updates too.
            updated_at=max(event.occurred_at, task.updated_at),
        )
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
        created_at=min(image.created_at, event.occurred_at),
        # As for a new image: events of this task applied before its upload count too.
        updated_at=max(image.updated_at, event.occurred_at, task.updated_at),
    )
