"""The decisions of one processing task, as plain functions: object keys, the content key
that lets identical uploads share results, and the events that report the task."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from schemas.events import (
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
    new_event_id,
    utc_now,
)
from schemas.values import (
    ExecutionProvider,
    ForegroundBox,
    InferenceRuntime,
    ModelRef,
    OutputFormat,
    ResultKind,
    ResultObject,
    Timings,
)
from services.common.shaping import shape_key
from services.processor.domain.errors import Failure

# Raised whenever pre- or post-processing changes what a model's results look like, so that
# results stored by content under an older revision are not reused.
PIPELINE_REVISION = 5


@dataclass(frozen=True)
class Identity:
    """Who is reporting: the worker, and the model and provider when known."""

    worker_id: str
    model: ModelRef | None = None
    provider: ExecutionProvider | None = None
    runtime: InferenceRuntime | None = None


def result_key(upload: ImageUploaded, kind: ResultKind) -> str:
    """Stable per task and kind, so a re-delivered task overwrites its own results."""
    if kind is ResultKind.MASK:
        return f"{upload.image_id}/{upload.task_id}/mask.png"
    extension = "webp" if upload.options.output_format is OutputFormat.WEBP else "png"
    return f"{upload.image_id}/{upload.task_id}/cutout.{extension}"


def content_key(upload: ImageUploaded, model_sha256: str, variant: str = "") -> str:
    """Where the results of these bytes, this model and these output options are indexed
    for the image's owner; ``variant`` names the finishing choices (foreground estimation,
    mask upsampling). Scoped to the owner: one owner's upload never reuses, or waits on,
    another owner's task, so nothing of one owner's work shows in another's events."""
    options = upload.options
    background = options.background.lstrip("#")
    suffix = "".join(f"-{part}" for part in (variant, shape_key(options)) if part)
    return (
        f"results-by-content/r{PIPELINE_REVISION}/{model_sha256}/{upload.original.sha256}/"
        f"{upload.owner}/{options.output_format.value}-{background}{suffix}.json"
    )


@dataclass(frozen=True)
class StoredResults:
    """The task that produced results, and the objects, as indexed by content."""

    task_id: str
    cutout: ResultObject
    mask: ResultObject
    foreground: ForegroundBox | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "task_id": self.task_id,
                "cutout": self.cutout.model_dump(mode="json"),
                "mask": self.mask.model_dump(mode="json"),
                "foreground": None
                if self.foreground is None
                else self.foreground.model_dump(mode="json"),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> StoredResults | None:
        """The entry, or ``None`` when it is unreadable (treated as absent)."""
        try:
            raw = json.loads(data)
            return cls(
                task_id=str(raw["task_id"]),
                cutout=ResultObject.model_validate(raw["cutout"]),
                mask=ResultObject.model_validate(raw["mask"]),
                foreground=None
                if raw.get("foreground") is None
                else ForegroundBox.model_validate(raw["foreground"]),
            )
        except (ValueError, KeyError, TypeError, ValidationError):
            return None


def started(upload: ImageUploaded, attempt: int, who: Identity) -> ProcessingStarted:
    if who.model is None or who.provider is None:
        raise ValueError("a started task has a model and a provider")
    return ProcessingStarted(
        event_id=new_event_id(),
        image_id=upload.image_id,
        owner=upload.owner,
        occurred_at=utc_now(),
        task_id=upload.task_id,
        attempt=attempt,
        worker_id=who.worker_id,
        model=who.model,
        provider=who.provider,
        runtime=who.runtime,
    )


def completed(
    upload: ImageUploaded,
    attempt: int,
    who: Identity,
    *,
    results: Sequence[ResultObject],
    batch_size: int,
    timings: Timings,
    reused_from_task_id: str | None = None,
    foreground: ForegroundBox | None = None,
) -> ProcessingCompleted:
    if who.model is None or who.provider is None:
        raise ValueError("a completed task has a model and a provider")
    return ProcessingCompleted(
        event_id=new_event_id(),
        image_id=upload.image_id,
        owner=upload.owner,
        occurred_at=utc_now(),
        task_id=upload.task_id,
        attempt=attempt,
        worker_id=who.worker_id,
        model=who.model,
        provider=who.provider,
        runtime=who.runtime,
        results=list(results),
        batch_size=batch_size,
        timings=timings,
        reused_from_task_id=reused_from_task_id,
        foreground=foreground,
    )


def failed(
    upload: ImageUploaded, attempt: int, who: Identity, failure: Failure
) -> ProcessingFailed:
    return ProcessingFailed(
        event_id=new_event_id(),
        image_id=upload.image_id,
        owner=upload.owner,
        occurred_at=utc_now(),
        task_id=upload.task_id,
        attempt=attempt,
        worker_id=who.worker_id,
        model=who.model,
        provider=who.provider,
        reason=failure.reason,
        message=failure.message,
        retriable=failure.retriable,
    )
