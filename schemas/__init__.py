"""Clearcut's event contracts: pydantic models, their JSON Schemas, and the type registry.

The models in `schemas.events` are the source of truth; `python -m schemas.export`
regenerates `schemas/json/*.schema.json` from them.
"""

from schemas.events import (
    Event,
    EventBase,
    ImageDeleted,
    ImageDownloaded,
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
    TaskEvent,
    new_event_id,
    utc_now,
)
from schemas.registry import EVENT_SPECS, EventSpec, spec_for, spec_for_topic, spec_for_type
from schemas.validation import ContractViolation, Violation, validate
from schemas.values import (
    Channels,
    ExecutionProvider,
    FailureReason,
    ForegroundBox,
    ModelRef,
    OriginalImage,
    OutputFormat,
    ProcessingOptions,
    Reprocessing,
    ResultKind,
    ResultObject,
    SizePreset,
    Timings,
)

__all__ = [
    "EVENT_SPECS",
    "Channels",
    "ContractViolation",
    "Event",
    "EventBase",
    "EventSpec",
    "ExecutionProvider",
    "FailureReason",
    "ForegroundBox",
    "ImageDeleted",
    "ImageDownloaded",
    "ImageUploaded",
    "ModelRef",
    "OriginalImage",
    "OutputFormat",
    "ProcessingCompleted",
    "ProcessingFailed",
    "ProcessingOptions",
    "ProcessingStarted",
    "Reprocessing",
    "ResultKind",
    "ResultObject",
    "SizePreset",
    "TaskEvent",
    "Timings",
    "Violation",
    "new_event_id",
    "spec_for",
    "spec_for_topic",
    "spec_for_type",
    "utc_now",
    "validate",
]
