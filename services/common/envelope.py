"""Events on the wire: CloudEvents 1.0 in Kafka binary content mode. Pure functions, no I/O.

A record's key is the image id, its value the event's JSON, and its headers the CloudEvents
attributes (`ce_id`, `ce_type`, `ce_source`, `ce_specversion`, `ce_time`, `ce_subject`) plus
`content-type: application/json`. W3C `traceparent`/`tracestate` are added to the same header
list by the OpenTelemetry instrumentation, not here.

Producers call `encode`, which refuses an invalid event loudly (`InvalidEvent`: a bug in the
producer). Consumers call `decode`, which raises a `ContractError` whose `reason` goes into the
dead-letter headers.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from cloudevents.core.bindings import kafka as kafka_binding
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from schemas.events import Event, EventBase
from schemas.registry import EventSpec, spec_for, spec_for_type
from schemas.validation import ContractViolation, validate

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
CE_PREFIX = "ce_"
CONTENT_TYPE_HEADER = "content-type"
TRACE_HEADERS = ("traceparent", "tracestate")
# Attributes every Clearcut event carries, checked in this order.
REQUIRED_ATTRIBUTES = ("specversion", "type", "id", "source", "subject", "time")
_KNOWN_ATTRIBUTES = {*REQUIRED_ATTRIBUTES, "datacontenttype", "dataschema"}
_JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)
_FORMAT = JSONFormat()

Headers = Sequence[tuple[str, bytes | None]] | Mapping[str, bytes | None]


@dataclasses.dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What to hand to the producer. `headers` is a list so tracing can append to it."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclasses.dataclass(frozen=True, slots=True)
class EventEnvelope:
    """A decoded message: the typed event and the CloudEvents attributes it came with."""

    event: Event
    id: str
    type: str
    source: str
    specversion: str
    time: datetime
    subject: str
    datacontenttype: str | None = None
    dataschema: str | None = None
    extensions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def spec(self) -> EventSpec:
        return spec_for(self.event)


class InvalidEvent(ValueError):
    """A producer tried to send an event that breaks its contract: a bug, never retried."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ContractError(Exception):
    """A received message cannot be turned into a valid event; it belongs on the DLQ.

    `reason` is a stable code for the dead-letter headers; `field` names what failed
    (a data field such as `original.size`, or a header such as `ce_type`).
    """

    reason: ClassVar[str] = "contract_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UndecodableMessage(ContractError):
    """The value (or a header) is not readable: no value, not UTF-8, not JSON."""

    reason = "undecodable"


class InvalidMessage(ContractError):
    """The data is JSON but breaks the event's JSON Schema or model."""

    reason = "schema_invalid"


class InvalidEnvelope(InvalidMessage):
    """A CloudEvents attribute is missing, malformed, or disagrees with the data."""

    reason = "envelope_invalid"


class UnknownEventType(ContractError):
    """`ce_type` names no event this code knows (a newer producer, or a stray message)."""

    reason = "unknown_type"


def encode(event: EventBase, source: str) -> KafkaRecord:
    """The Kafka record for `event`, produced by `source` (a URI-reference such as
    `/clearcut/upload`). Raises `InvalidEvent` when the event breaks its contract."""
    spec = spec_for(event)
    # Serialiser warnings would only repeat what the schema check below reports precisely.
    data = event.model_dump(mode="json", warnings=False)
    try:
        validate(spec, data)
    except ContractViolation as exc:
        raise InvalidEvent(str(exc), field=exc.field) from None
    if not source or source != source.strip():
        raise InvalidEvent(f"source {source!r} must be a non-empty URI-reference", field="source")
    value = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    attributes: dict[str, Any] = {
        "id": event.event_id,
        "source": source,
        "type": spec.ce_type,
        "specversion": SPECVERSION,
        "time": event.occurred_at,
        "subject": event.image_id,
        "datacontenttype": CONTENT_TYPE,
    }
    try:
        cloud_event = CloudEvent(attributes=attributes, data=value)
    except CloudEventValidationError as exc:
        raise InvalidEvent(str(exc), field=next(iter(exc.errors), None)) from None
    # The SDK's binding writes the attributes as ce_ headers (RFC 3339 time, `Z` for UTC)
    # and passes bytes data through untouched.
    message = kafka_binding.to_binary(cloud_event, _FORMAT)
    return KafkaRecord(
        key=event.image_id.encode("utf-8"),
        value=message.value,
        headers=list(message.headers.items()),
    )


def decode(value: bytes | None, headers: Headers) -> EventEnvelope:
    """The event in a consumed record, validated against its JSON Schema and its model.

    Raises `UndecodableMessage`, `InvalidEnvelope`, `UnknownEventType` or `InvalidMessage`
    (all `ContractError`), each with a message naming the failing field or header.
    """
    # The headers are read here rather than by the SDK's `from_binary`: it fills a missing
    # ce_id or ce_time with a fresh value, decodes foreign headers too (failing on binary
    # ones), and turns a value that is not JSON into a string instead of an error. A
    # consumer has to dead-letter those cases with an exact reason.
    attributes, trace = _read_headers(headers)
    for name in REQUIRED_ATTRIBUTES:
        if not attributes.get(name):
            raise InvalidEnvelope(
                f"header {CE_PREFIX}{name} is missing or empty", field=f"{CE_PREFIX}{name}"
            )
    if attributes["specversion"] != SPECVERSION:
        raise InvalidEnvelope(
            f"ce_specversion {attributes['specversion']!r} is not {SPECVERSION!r}",
            field="ce_specversion",
        )
    spec = spec_for_type(attributes["type"])
    if spec is None:
        raise UnknownEventType(
            f"ce_type {attributes['type']!r} is not a known event type", field="ce_type"
        )
    time = _parse_time(attributes["time"])
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not _JSON_MEDIA_TYPE.match(content_type):
        raise UndecodableMessage(
            f"content-type {content_type!r} is not JSON", field=CONTENT_TYPE_HEADER
        )
    data = _parse_json(value)
    try:
        event = validate(spec, data)
    except ContractViolation as exc:
        raise InvalidMessage(str(exc), field=exc.field) from None
    _check_agreement(attributes, time, event)
    return EventEnvelope(
        event=event,
        id=attributes["id"],
        type=attributes["type"],
        source=attributes["source"],
        specversion=attributes["specversion"],
        time=time,
        subject=attributes["subject"],
        datacontenttype=content_type,
        dataschema=attributes.get("dataschema"),
        extensions={k: v for k, v in attributes.items() if k not in _KNOWN_ATTRIBUTES},
        traceparent=trace.get("traceparent"),
        tracestate=trace.get("tracestate"),
    )


def _read_headers(headers: Headers) -> tuple[dict[str, str], dict[str, str]]:
    """CloudEvents attributes by name (without `ce_`), and the W3C trace headers."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    attributes: dict[str, str] = {}
    trace: dict[str, str] = {}
    for raw_name, raw_value in items:
        name = raw_name.lower()
        if name.startswith(CE_PREFIX) or name == CONTENT_TYPE_HEADER:
            attribute = "datacontenttype" if name == CONTENT_TYPE_HEADER else name[len(CE_PREFIX) :]
            if attribute in attributes:
                raise InvalidEnvelope(f"header {name} appears more than once", field=name)
            attributes[attribute] = _header_text(name, raw_value)
        elif name in TRACE_HEADERS and name not in trace and raw_value is not None:
            # Like the W3C propagator, the first occurrence wins; a malformed trace header
            # must never fail a message, so it is dropped instead.
            try:
                trace[name] = raw_value.decode("utf-8")
            except UnicodeDecodeError:
                continue
    return attributes, trace


def _header_text(name: str, raw: bytes | None) -> str:
    if raw is None:
        return ""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UndecodableMessage(f"header {name} is not UTF-8", field=name) from None


def _parse_time(text: str) -> datetime:
    try:
        time = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEnvelope(
            f"ce_time {text!r} is not an RFC 3339 timestamp", field="ce_time"
        ) from None
    if time.tzinfo is None:
        raise InvalidEnvelope(f"ce_time {text!r} has no UTC offset", field="ce_time")
    return time


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate keys would let two parsers read two different events from one message.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_json(value: bytes | None) -> object:
    if not value:
        raise UndecodableMessage("message has no value", field="value")
    try:
        text = value.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise UndecodableMessage(f"value is not UTF-8: {exc}", field="value") from None
    except (ValueError, RecursionError) as exc:
        raise UndecodableMessage(f"value is not JSON: {exc}", field="value") from None


def _check_agreement(attributes: Mapping[str, str], time: datetime, event: EventBase) -> None:
    if attributes["id"] != event.event_id:
        raise InvalidEnvelope("ce_id differs from the data's event_id", field="ce_id")
    if attributes["subject"] != event.image_id:
        raise InvalidEnvelope("ce_subject differs from the data's image_id", field="ce_subject")
    if time != event.occurred_at:
        raise InvalidEnvelope("ce_time differs from the data's occurred_at", field="ce_time")
