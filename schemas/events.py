"""The event models: the single source of truth for the JSON Schemas in ``schemas/json``.

Events are facts in the past tense. Every one is about one image (its id is the Kafka key)
and belongs to that image's owner, so any consumer can route or scope it on its own.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, field_validator

from schemas.values import (
    REQUIRED_RESULT_KINDS,
    CallbackUrl,
    EventId,
    ExecutionProvider,
    FailureReason,
    ForegroundBox,
    Identifier,
    InferenceRuntime,
    ModelRef,
    OriginalImage,
    Owner,
    ProcessingOptions,
    Reprocessing,
    ResultKind,
    ResultObject,
    ResultObjects,
    Strict,
    Timestamp,
    Timings,
)

WorkerId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


def new_event_id() -> str:
    """A fresh `event_id` in the canonical form the contracts require."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    """The current time, timezone-aware, for `occurred_at`."""
    return datetime.now(UTC)


class EventBase(Strict):
    """Fields every event carries."""

    event_id: EventId = Field(
        description="Unique id of this event (lowercase UUID); sent as the CloudEvents `ce_id`."
    )
    image_id: Identifier = Field(
        description="The image the event is about; the Kafka key and the CloudEvents `ce_subject`."
    )
    owner: Owner = Field(description="Owner of the image; consumers scope access by it.")
    occurred_at: Timestamp = Field(
        description="When it happened, RFC 3339 with offset (UTC on the wire); the `ce_time`."
    )
    schema_version: int = Field(
        1,
        ge=1,
        description="Revision of this event type's schema the producer wrote; each additive "
        "change raises it. Absent means 1.",
    )


class _TaskEvent(EventBase):
    task_id: Identifier = Field(
        description="One processing attempt of one image with one model; results are keyed by it."
    )


class _AttemptEvent(_TaskEvent):
    attempt: int = Field(
        ge=1, description="1 for the first try of the task, raised by 1 for each retry of it."
    )
    worker_id: WorkerId = Field(description="The processor instance, for example `host-pid`.")


class ImageUploaded(_TaskEvent):
    """An original was validated and stored, and a processing task for it is requested.

    Also re-published by replay or a reprocess request, with a new `event_id`, a new
    `task_id` and `reprocessing` set.
    """

    schema_version: int = Field(
        2,
        ge=1,
        description="Revision of this event type's schema the producer wrote; each additive "
        "change raises it. Absent means 1. 2: `options` gained `crop`, `crop_margin`, "
        "`channels` and `size`, and the event gained `callback_url`.",
    )
    original: OriginalImage = Field(description="The stored original.")
    options: ProcessingOptions = Field(description="What the client asked for.")
    reprocessing: Reprocessing | None = Field(
        None, description="Set when this re-publishes an existing image; null for a new upload."
    )
    callback_url: CallbackUrl | None = Field(
        None,
        description="Where the webhooks service POSTs this task's completion or failure, "
        "besides the owner's registered endpoints; null for none. Never set on a reprocessing. "
        "Added in schema version 2.",
    )


class ProcessingStarted(_AttemptEvent):
    """A processor took the task and is about to run the model."""

    model: ModelRef = Field(description="The model that will run.")
    provider: ExecutionProvider = Field(description="The execution provider the model runs on.")
    runtime: InferenceRuntime | None = Field(
        None, description="The library that runs the model; null from workers that predate it."
    )


class ProcessingCompleted(_AttemptEvent):
    """The task's results are durably stored."""

    schema_version: int = Field(
        2,
        ge=1,
        description="Revision of this event type's schema the producer wrote; each additive "
        "change raises it. Absent means 1. 2: `foreground`.",
    )
    model: ModelRef = Field(description="The model that ran (or whose results were reused).")
    provider: ExecutionProvider = Field(description="The execution provider the model ran on.")
    runtime: InferenceRuntime | None = Field(
        None, description="The library that ran the model; null from workers that predate it."
    )
    results: ResultObjects = Field(
        description="The stored results: exactly one `cutout` and exactly one `mask`."
    )
    batch_size: int = Field(ge=1, description="Images in the inference batch this one ran in.")
    timings: Timings = Field(description="Time spent per stage.")
    foreground: ForegroundBox | None = Field(
        None,
        description="Where the subject is in the mask (half-opaque pixels or more); null when "
        "the mask holds none, and from processors that predate it.",
    )
    reused_from_task_id: Identifier | None = Field(
        None,
        description="Set when no inference ran because a completed task with the same original "
        "sha256 and model already had results; they were copied from that task.",
    )

    @field_validator("results")
    @classmethod
    def _one_result_per_kind(cls, results: list[ResultObject]) -> list[ResultObject]:
        # Mirrors the schema's `contains` rules, which pydantic does not evaluate.
        kinds = [result.kind for result in results]
        for kind in REQUIRED_RESULT_KINDS:
            if kinds.count(kind) != 1:
                raise ValueError(f"expected exactly one result of kind {kind.value!r}")
        return results


class ProcessingFailed(_AttemptEvent):
    """The task's attempt failed; `retriable` says whether trying again may succeed."""

    model: ModelRef | None = Field(
        None, description="The model, if one was resolved before the failure."
    )
    provider: ExecutionProvider | None = Field(
        None, description="The execution provider, if the model was loaded."
    )
    reason: FailureReason = Field(description="Stable machine-readable cause.")
    message: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="What went wrong, for a person; never contains secrets."
    )
    retriable: bool = Field(
        description="True when the cause is transient (store or broker unavailable)."
    )


class ImageDownloaded(_TaskEvent):
    """A result of the task was served to a client."""

    kind: ResultKind = Field(description="Which result was served.")


class ImageDeleted(EventBase):
    """The image was deleted by its owner or an operator: it is no longer served, and its
    original, its results and its content-index entries are removed from the object store.

    Applies to every task of the image, including tasks that complete after it.
    """

    deleted_by: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Who deleted it: the owner for an API request, or an operator name."
    )
    reason: Annotated[str, Field(max_length=1000)] | None = Field(
        None, description="Free-text reason given by the requester."
    )


TaskEvent = (
    ImageUploaded | ProcessingStarted | ProcessingCompleted | ProcessingFailed | ImageDownloaded
)
Event = TaskEvent | ImageDeleted
