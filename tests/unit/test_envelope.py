"""CloudEvents Kafka binary mode: encode/decode round trips and every way decoding fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from schemas import (
    EVENT_SPECS,
    EventBase,
    EventSpec,
    ImageDownloaded,
    ProcessingStarted,
    ResultKind,
    export,
    new_event_id,
    spec_for,
)
from services.common.envelope import (
    ContractError,
    InvalidEnvelope,
    InvalidEvent,
    InvalidMessage,
    KafkaRecord,
    UndecodableMessage,
    UnknownEventType,
    decode,
    encode,
)

SOURCE = "/clearcut/test"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "clearcut=1,vendor=x"
EXPECTED_HEADERS = [
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_specversion",
    "ce_time",
    "ce_subject",
    "content-type",
]
SPEC_IDS = [spec.name for spec in EVENT_SPECS]
Headers = list[tuple[str, bytes | None]]


def example_event(spec: EventSpec) -> EventBase:
    path = Path(export.PACKAGE_DIR) / "examples" / f"{spec.name}.json"
    return spec.model.model_validate(json.loads(path.read_text("utf-8")))


def downloaded() -> ImageDownloaded:
    event = example_event(spec_for(ImageDownloaded))
    assert isinstance(event, ImageDownloaded)
    return event


def record_of(event: EventBase) -> tuple[bytes, Headers]:
    record = encode(event, SOURCE)
    return record.value, list(record.headers)


def set_header(headers: Headers, name: str, value: bytes | None) -> Headers:
    return [(n, value if n == name else v) for n, v in headers]


def drop_header(headers: Headers, name: str) -> Headers:
    return [(n, v) for n, v in headers if n != name]


# --- round trip ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", EVENT_SPECS, ids=SPEC_IDS)
def test_round_trip_keeps_every_attribute_and_the_data(spec: EventSpec) -> None:
    event = example_event(spec)
    record = encode(event, SOURCE)

    assert isinstance(record, KafkaRecord)
    assert record.key == event.image_id.encode()
    assert isinstance(record.headers, list)
    assert [name for name, _ in record.headers] == EXPECTED_HEADERS
    headers = dict(record.headers)
    assert headers["ce_id"] == event.event_id.encode()
    assert headers["ce_type"] == spec.ce_type.encode()
    assert headers["ce_source"] == SOURCE.encode()
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_subject"] == event.image_id.encode()
    assert headers["content-type"] == b"application/json"
    assert headers["ce_time"].endswith(b"Z")
    assert json.loads(record.value) == event.model_dump(mode="json")

    # What the OpenTelemetry instrumentation does on send.
    record.headers.append(("traceparent", TRACEPARENT.encode()))
    record.headers.append(("tracestate", TRACESTATE.encode()))
    envelope = decode(record.value, record.headers)

    assert envelope.event == event
    assert type(envelope.event) is spec.model
    assert envelope.spec is spec
    assert envelope.id == event.event_id
    assert envelope.type == spec.ce_type
    assert envelope.source == SOURCE
    assert envelope.specversion == "1.0"
    assert envelope.time == event.occurred_at
    assert envelope.subject == event.image_id
    assert envelope.datacontenttype == "application/json"
    assert envelope.traceparent == TRACEPARENT
    assert envelope.tracestate == TRACESTATE
    assert envelope.extensions == {}


def test_ce_time_is_utc_with_microseconds() -> None:
    event = downloaded().model_copy(
        update={
            "occurred_at": datetime(2025, 1, 2, 5, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
        }
    )
    event = ImageDownloaded.model_validate(event.model_dump())
    _, headers = record_of(event)
    assert dict(headers)["ce_time"] == b"2025-01-02T03:04:05.000006Z"
    value, headers = record_of(event)
    assert decode(value, headers).time == datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_decode_accepts_a_header_mapping_and_keeps_extensions() -> None:
    value, headers = record_of(downloaded())
    mapping = dict(headers) | {"ce_partitionkey": b"abc", "x-other": b"\xff\xfe"}
    envelope = decode(value, mapping)
    assert envelope.event == downloaded()
    assert envelope.extensions == {"partitionkey": "abc"}
    assert envelope.traceparent is None


def test_content_type_with_charset_is_json() -> None:
    value, headers = record_of(downloaded())
    headers = set_header(headers, "content-type", b"application/json; charset=utf-8")
    assert decode(value, headers).datacontenttype == "application/json; charset=utf-8"


def test_missing_content_type_means_json() -> None:
    value, headers = record_of(downloaded())
    assert decode(value, drop_header(headers, "content-type")).datacontenttype is None


def test_bad_or_repeated_trace_headers_never_fail_a_message() -> None:
    value, headers = record_of(downloaded())
    headers += [("traceparent", b"\xff"), ("traceparent", TRACEPARENT.encode())]
    assert decode(value, headers).traceparent == TRACEPARENT
    value, headers = record_of(downloaded())
    headers += [("traceparent", TRACEPARENT.encode()), ("traceparent", b"00-other")]
    assert decode(value, headers).traceparent == TRACEPARENT


def test_each_encode_is_independent() -> None:
    event = downloaded()
    first, second = encode(event, SOURCE), encode(event, SOURCE)
    first.headers.append(("traceparent", b"x"))
    assert ("traceparent", b"x") not in second.headers


# --- encode refuses invalid events ------------------------------------------------------


def test_encode_refuses_an_event_that_bypassed_validation() -> None:
    # model_construct and model_copy(update=...) skip validation; encode must not.
    broken = downloaded().model_copy(update={"task_id": ""})
    with pytest.raises(InvalidEvent, match="task_id") as error:
        encode(broken, SOURCE)
    assert error.value.field == "task_id"


def test_encode_refuses_a_constructed_event_with_a_wrong_enum() -> None:
    data = downloaded().model_dump() | {"kind": "original"}
    with pytest.raises(InvalidEvent) as error:
        encode(ImageDownloaded.model_construct(**data), SOURCE)
    assert error.value.field == "kind"
    assert "kind" in str(error.value)


def test_encode_refuses_a_missing_nested_field() -> None:
    event = example_event(spec_for(ProcessingStarted))
    assert isinstance(event, ProcessingStarted)
    model = event.model.model_copy(update={"sha256": "not-hex"})
    with pytest.raises(InvalidEvent) as error:
        encode(event.model_copy(update={"model": model}), SOURCE)
    assert error.value.field == "model.sha256"


@pytest.mark.parametrize("source", ["", " /clearcut/upload"])
def test_encode_refuses_a_bad_source(source: str) -> None:
    with pytest.raises(InvalidEvent) as error:
        encode(downloaded(), source)
    assert error.value.field == "source"


def test_encode_refuses_an_unregistered_event_class() -> None:
    class Unregistered(EventBase):
        pass

    event = Unregistered.model_validate(
        downloaded().model_dump(include=set(EventBase.model_fields))
    )
    with pytest.raises(KeyError, match="Unregistered"):
        encode(event, SOURCE)


def test_invalid_event_is_not_a_contract_error() -> None:
    # A consumer's `except ContractError` (dead-letter) must never swallow a producer bug.
    assert not issubclass(InvalidEvent, ContractError)


# --- decode failures -------------------------------------------------------------------


def _case(
    value: bytes | None, headers: Headers, error: type[ContractError], reason: str, field: str
) -> tuple[bytes | None, Headers, type[ContractError], str, str]:
    return value, headers, error, reason, field


def decode_failures() -> list[Any]:
    event = downloaded()
    value, headers = record_of(event)
    started_value, _ = record_of(example_event(spec_for(ProcessingStarted)))
    data = json.loads(value)
    other = event.model_copy(update={"event_id": new_event_id()})
    cases = {
        "not-json": _case(b"{not json", headers, UndecodableMessage, "undecodable", "value"),
        "not-utf8": _case(b"\xff\xfe{}", headers, UndecodableMessage, "undecodable", "value"),
        "no-value": _case(None, headers, UndecodableMessage, "undecodable", "value"),
        "empty-value": _case(b"", headers, UndecodableMessage, "undecodable", "value"),
        "nan": _case(b"NaN", headers, UndecodableMessage, "undecodable", "value"),
        "deep": _case(b"[" * 100_000, headers, UndecodableMessage, "undecodable", "value"),
        "duplicate-key": _case(
            value[:-1] + b',"kind":"mask"}', headers, UndecodableMessage, "undecodable", "value"
        ),
        "content-type": _case(
            value,
            set_header(headers, "content-type", b"text/plain"),
            UndecodableMessage,
            "undecodable",
            "content-type",
        ),
        "header-not-utf8": _case(
            value,
            set_header(headers, "ce_source", b"\xff"),
            UndecodableMessage,
            "undecodable",
            "ce_source",
        ),
        "schema-missing-field": _case(
            json.dumps({k: v for k, v in data.items() if k != "owner"}).encode(),
            headers,
            InvalidMessage,
            "schema_invalid",
            "owner",
        ),
        "schema-wrong-type": _case(
            json.dumps(data | {"kind": 3}).encode(),
            headers,
            InvalidMessage,
            "schema_invalid",
            "kind",
        ),
        "schema-not-an-object": _case(b"[]", headers, InvalidMessage, "schema_invalid", "(root)"),
        "data-of-another-type": _case(
            started_value, headers, InvalidMessage, "schema_invalid", "attempt"
        ),
        "missing-ce_type": _case(
            value, drop_header(headers, "ce_type"), InvalidEnvelope, "envelope_invalid", "ce_type"
        ),
        "empty-ce_type": _case(
            value,
            set_header(headers, "ce_type", b""),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_type",
        ),
        "unknown-ce_type": _case(
            value,
            set_header(headers, "ce_type", b"io.clearcut.image.exploded.v1"),
            UnknownEventType,
            "unknown_type",
            "ce_type",
        ),
        "future-major-version": _case(
            value,
            set_header(headers, "ce_type", b"io.clearcut.image.downloaded.v2"),
            UnknownEventType,
            "unknown_type",
            "ce_type",
        ),
        "missing-ce_id": _case(
            value, drop_header(headers, "ce_id"), InvalidEnvelope, "envelope_invalid", "ce_id"
        ),
        "null-ce_source": _case(
            value,
            set_header(headers, "ce_source", None),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_source",
        ),
        "missing-ce_specversion": _case(
            value,
            drop_header(headers, "ce_specversion"),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_specversion",
        ),
        "old-specversion": _case(
            value,
            set_header(headers, "ce_specversion", b"0.3"),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_specversion",
        ),
        "bad-ce_time": _case(
            value,
            set_header(headers, "ce_time", b"yesterday"),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_time",
        ),
        "naive-ce_time": _case(
            value,
            set_header(headers, "ce_time", b"2025-11-21T10:15:33.004917"),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_time",
        ),
        "ce_time-disagrees": _case(
            value,
            set_header(headers, "ce_time", b"2025-11-21T10:15:34Z"),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_time",
        ),
        "ce_id-disagrees": _case(
            record_of(other)[0], headers, InvalidEnvelope, "envelope_invalid", "ce_id"
        ),
        "ce_subject-disagrees": _case(
            value,
            set_header(headers, "ce_subject", b"another-image"),
            InvalidEnvelope,
            "envelope_invalid",
            "ce_subject",
        ),
        "repeated-ce_type": _case(
            value,
            [*headers, ("ce_type", b"io.clearcut.image.uploaded.v1")],
            InvalidEnvelope,
            "envelope_invalid",
            "ce_type",
        ),
    }
    return [pytest.param(*case, id=name) for name, case in cases.items()]


@pytest.mark.parametrize(("value", "headers", "error", "reason", "field"), decode_failures())
def test_decode_failure_has_the_right_error_reason_and_field(
    value: bytes | None,
    headers: Headers,
    error: type[ContractError],
    reason: str,
    field: str,
) -> None:
    with pytest.raises(ContractError) as caught:
        decode(value, headers)
    assert type(caught.value) is error
    assert caught.value.reason == reason
    assert caught.value.field == field
    assert field in str(caught.value)


def test_reasons_are_distinct_and_stable() -> None:
    assert UndecodableMessage.reason == "undecodable"
    assert InvalidMessage.reason == "schema_invalid"
    assert InvalidEnvelope.reason == "envelope_invalid"
    assert UnknownEventType.reason == "unknown_type"
    assert issubclass(InvalidEnvelope, InvalidMessage)
    for error in (UndecodableMessage, InvalidMessage, UnknownEventType):
        assert issubclass(error, ContractError)


def test_decode_validates_with_the_model_after_the_schema() -> None:
    # The schema's pattern accepts 30 February (`format` is not enforced); the model does not.
    value, headers = record_of(downloaded())
    data = json.loads(value) | {"occurred_at": "2025-02-30T10:15:33Z"}
    with pytest.raises(InvalidMessage) as caught:
        decode(json.dumps(data).encode(), headers)
    assert caught.value.reason == "schema_invalid"
    assert caught.value.field == "occurred_at"
    assert "model" in str(caught.value)


def test_decode_refuses_an_unknown_field_naming_it() -> None:
    value, headers = record_of(downloaded())
    data = json.loads(value) | {"kind_v2": ResultKind.MASK.value}
    with pytest.raises(InvalidMessage) as caught:
        decode(json.dumps(data).encode(), headers)
    assert caught.value.reason == "schema_invalid"
    assert caught.value.field == "kind_v2"
