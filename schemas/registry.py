"""Which CloudEvents `type` and which base topic belong to each event model.

Topic names here are base names; deployments add their prefix through the settings
(`TopicNames`). A breaking change to an event is a new model with a new `type` ending in
the next `.vN`, registered beside the old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import (
    Event,
    EventBase,
    ImageDeleted,
    ImageDownloaded,
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type: its model, its CloudEvents `type` and its base topic."""

    model: type[Event]
    ce_type: str
    topic: str

    @property
    def name(self) -> str:
        """The event's name, which is also its schema and example file name."""
        return self.model.__name__

    @property
    def schema_id(self) -> str:
        """The `$id` of the event's JSON Schema."""
        return f"urn:clearcut:schema:{self.ce_type}"


EVENT_SPECS: tuple[EventSpec, ...] = (
    EventSpec(ImageUploaded, "io.clearcut.image.uploaded.v1", "image.uploaded"),
    EventSpec(
        ProcessingStarted, "io.clearcut.image.processing.started.v1", "image.processing.started"
    ),
    EventSpec(
        ProcessingCompleted,
        "io.clearcut.image.processing.completed.v1",
        "image.processing.completed",
    ),
    EventSpec(
        ProcessingFailed, "io.clearcut.image.processing.failed.v1", "image.processing.failed"
    ),
    EventSpec(ImageDownloaded, "io.clearcut.image.downloaded.v1", "image.downloaded"),
    EventSpec(ImageDeleted, "io.clearcut.image.deleted.v1", "image.deleted"),
)

_BY_MODEL: dict[type[EventBase], EventSpec] = {spec.model: spec for spec in EVENT_SPECS}
_BY_TYPE: dict[str, EventSpec] = {spec.ce_type: spec for spec in EVENT_SPECS}
_BY_TOPIC: dict[str, EventSpec] = {spec.topic: spec for spec in EVENT_SPECS}


def spec_for(event: EventBase | type[EventBase]) -> EventSpec:
    """The spec of an event instance or class; `KeyError` for an unregistered class."""
    model = event if isinstance(event, type) else type(event)
    try:
        return _BY_MODEL[model]
    except KeyError:
        raise KeyError(f"{model.__name__} is not a registered event type") from None


def spec_for_type(ce_type: str) -> EventSpec | None:
    """The spec for a CloudEvents `type`, or None when no event has that type."""
    return _BY_TYPE.get(ce_type)


def spec_for_topic(topic: str) -> EventSpec | None:
    """The spec for a base topic name (without prefix), or None."""
    return _BY_TOPIC.get(topic)
