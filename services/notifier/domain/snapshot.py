"""An image's current state as a subscriber first sees it, and how it meets the stream. Pure.

A snapshot comes from the read model, brought up to date with the events the notifier has
already pushed but the read model may not have applied yet, so nothing that happened before
the subscription is missed even while the projector lags. Events that a snapshot already
reflects are not sent to its subscriber afterwards.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas import ProcessingCompleted, ProcessingFailed
from schemas.progress import TASK_STATUS
from services.notifier.domain.links import Links
from services.notifier.domain.notice import Notice
from services.notifier.domain.progress import (
    Progress,
    PushedEvent,
    Status,
    status_of,
    supersedes,
)


@dataclass(frozen=True, slots=True)
class ResultInfo:
    kind: str
    content_type: str
    width: int
    height: int
    size: int


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    reason: str
    message: str
    retriable: bool


@dataclass(frozen=True, slots=True)
class ImageSnapshot:
    image_id: str
    owner: str
    status: Status
    task_id: str | None
    attempt: int
    updated_at: datetime
    task_requested_at: datetime | None = None
    model_name: str | None = None
    model_version: str | None = None
    provider: str | None = None
    results: tuple[ResultInfo, ...] = field(default_factory=tuple)
    error: ErrorInfo | None = None

    @property
    def progress(self) -> Progress:
        return Progress(TASK_STATUS[self.status], self.attempt)

    def to_json(self, links: Links) -> dict[str, Any]:
        """The image as it appears in a ``snapshot`` message."""
        completed = self.status is Status.COMPLETED
        kinds = [r.kind for r in self.results] if completed else []
        return {
            "image_id": self.image_id,
            "owner": self.owner,
            "status": self.status.value,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "updated_at": _timestamp(self.updated_at),
            "model": None
            if self.model_name is None
            else {"name": self.model_name, "version": self.model_version},
            "provider": self.provider,
            "results": [
                {
                    "kind": r.kind,
                    "url": links.result(self.image_id, r.kind),
                    "content_type": r.content_type,
                    "width": r.width,
                    "height": r.height,
                    "size": r.size,
                }
                for r in (self.results if completed else ())
            ],
            "error": None
            if self.error is None or self.status is not Status.FAILED
            else {
                "reason": self.error.reason,
                "message": self.error.message,
                "retriable": self.error.retriable,
            },
            "links": links.for_image(self.image_id, kinds),
        }


def _timestamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def snapshot_from_event(event: PushedEvent) -> ImageSnapshot:
    """The state an event leaves its image in, for an image the read model lacks so far."""
    results: tuple[ResultInfo, ...] = ()
    error = None
    if isinstance(event, ProcessingCompleted):
        results = tuple(
            ResultInfo(r.kind.value, r.content_type, r.width, r.height, r.size)
            for r in event.results
        )
    if isinstance(event, ProcessingFailed):
        error = ErrorInfo(event.reason.value, event.message, event.retriable)
    return ImageSnapshot(
        image_id=event.image_id,
        owner=event.owner,
        status=status_of(event),
        task_id=event.task_id,
        attempt=event.attempt,
        updated_at=event.occurred_at,
        model_name=event.model.name if event.model else None,
        model_version=event.model.version if event.model else None,
        provider=event.provider.value if event.provider else None,
        results=results,
        error=error,
    )


def covers(snapshot: ImageSnapshot, notice: Notice) -> bool:
    """Whether ``snapshot`` already tells what ``notice`` would (nothing new in it)."""
    if notice.image_id != snapshot.image_id:
        return False
    if notice.task_id == snapshot.task_id:
        return not supersedes(notice.progress, snapshot.progress)
    # An event of a task older than the image's current one.
    requested = snapshot.task_requested_at
    return requested is not None and notice.occurred_at <= requested


def advance(snapshot: ImageSnapshot | None, notice: Notice) -> ImageSnapshot:
    """The image's state once ``notice`` (news to ``snapshot``) is taken into account."""
    fresh = snapshot_from_event(notice.event)
    if snapshot is None:
        return fresh
    same_task = notice.task_id == snapshot.task_id
    return dataclasses.replace(
        fresh,
        updated_at=max(snapshot.updated_at, fresh.updated_at),
        task_requested_at=snapshot.task_requested_at if same_task else None,
    )


def current_state(row: ImageSnapshot | None, notices: Sequence[Notice]) -> ImageSnapshot | None:
    """The read model's row brought up to date with the events seen recently (in the order
    they were accepted); None when neither knows the image."""
    state = row
    for notice in notices:
        if state is None or not covers(state, notice):
            state = advance(state, notice)
    return state
