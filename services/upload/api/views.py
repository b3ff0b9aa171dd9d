"""Read-model rows turned into API responses."""

from __future__ import annotations

from services.upload.api.models import (
    ForegroundView,
    ImagePage,
    ImageSummary,
    ImageView,
    Links,
    ModelInfo,
    Options,
    TaskError,
    TaskView,
)
from services.upload.domain.listing import Page
from services.upload.domain.projection import ImageState, TaskState
from services.upload.images import ImageRecord


def links(image_id: str, websocket_url: str) -> Links:
    base = f"/v1/images/{image_id}"
    return Links(
        self=base,
        result=f"{base}/result?kind=cutout",
        mask=f"{base}/result?kind=mask",
        websocket=f"{websocket_url}?image_id={image_id}",
    )


def task_view(task: TaskState) -> TaskView:
    shape = task.requested_shape or {}
    return TaskView(
        id=task.id,
        status=task.status,
        attempt=task.attempt,
        requested_at=task.requested_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        options=Options(
            output_format=task.output_format,
            background=task.background,
            model=task.requested_model,
            crop=shape.get("crop"),
            crop_margin=shape.get("crop_margin"),
            channels=shape.get("channels"),
            size=shape.get("size"),
        ),
        model=None
        if task.model_name is None
        else ModelInfo(name=task.model_name, version=task.model_version, sha256=task.model_sha256),
        provider=task.provider,
        duration_ms=task.duration_ms,
        timings=task.timings,
        batch_size=task.batch_size,
        foreground=None if task.foreground is None else ForegroundView(**task.foreground),
        reprocessing=task.reprocessing,
        error=None
        if task.error_reason is None
        else TaskError(
            reason=task.error_reason,
            message=task.error_message,
            retriable=task.error_retriable,
        ),
        downloads=task.downloads,
    )


def image_summary(image: ImageState, current: TaskState | None, websocket_url: str) -> ImageSummary:
    return ImageSummary(
        id=image.id,
        owner=image.owner,
        status=image.status,
        content_type=image.content_type,
        size_bytes=image.size_bytes,
        width=image.width,
        height=image.height,
        sha256=image.sha256,
        created_at=image.created_at,
        updated_at=image.updated_at,
        created_by=image.created_by,
        updated_by=image.updated_by,
        current_task=None if current is None else task_view(current),
        links=links(image.id, websocket_url),
    )


def page_view(page: Page, websocket_url: str) -> ImagePage:
    return ImagePage(
        items=[
            image_summary(i, page.current_tasks.get(i.current_task_id), websocket_url)
            for i in page.images
        ],
        next_cursor=page.next_cursor,
    )


def image_view(record: ImageRecord, websocket_url: str) -> ImageView:
    image = record.image
    current = record.current_task
    return ImageView(
        id=image.id,
        owner=image.owner,
        status=image.status,
        content_type=image.content_type,
        size_bytes=image.size_bytes,
        width=image.width,
        height=image.height,
        sha256=image.sha256,
        created_at=image.created_at,
        updated_at=image.updated_at,
        created_by=image.created_by,
        updated_by=image.updated_by,
        current_task=None if current is None else task_view(current),
        tasks=[task_view(t) for t in record.tasks],
        links=links(image.id, websocket_url),
    )
