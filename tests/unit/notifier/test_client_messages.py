from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifier.domain.client_messages import (
    Auth,
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    parse,
)
from services.notifier.domain.server_messages import ErrorCode


def error_of(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse(text)
    return caught.value


def test_valid_messages_parse_to_their_types() -> None:
    assert parse('{"type": "auth", "key": "cc_x"}') == Auth(type="auth", key="cc_x")
    assert parse('{"type": "ping", "request_id": "r1"}') == Ping(type="ping", request_id="r1")
    sub = parse('{"type": "subscribe", "images": ["a", "b.c"]}')
    assert isinstance(sub, Subscribe) and sub.images == ["a", "b.c"] and not sub.all
    all_ = parse('{"type": "subscribe", "all": true, "since": "2030-01-01T00:00:00Z"}')
    assert isinstance(all_, Subscribe) and all_.all
    assert all_.since == datetime(2030, 1, 1, tzinfo=UTC)
    assert isinstance(parse('{"type": "unsubscribe", "all": true}'), Unsubscribe)


def test_malformed_json_names_the_position() -> None:
    error = error_of('{"type": "subscribe", ')
    assert error.code is ErrorCode.MALFORMED_JSON
    assert "line 1, column" in error.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[1, 2]", "an array"), ('"hi"', "a string"), ("3", "a number"), ("null", "null")],
)
def test_a_message_must_be_an_object(text: str, expected: str) -> None:
    error = error_of(text)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert expected in error.message


def test_missing_and_unknown_types_are_named() -> None:
    missing = error_of('{"images": ["a"]}')
    assert missing.code is ErrorCode.INVALID_MESSAGE and missing.field == "type"
    unknown = error_of('{"type": "subscribe_everything", "request_id": "r7"}')
    assert unknown.code is ErrorCode.UNKNOWN_TYPE
    assert "'subscribe_everything'" in unknown.message
    assert "subscribe, unsubscribe" in unknown.message
    assert unknown.request_id == "r7"


def test_invalid_fields_are_named() -> None:
    bad_id = error_of('{"type": "subscribe", "images": ["ok", "not ok/.."]}')
    assert bad_id.code is ErrorCode.INVALID_MESSAGE
    assert bad_id.field == "images.1"
    assert "images.1" in bad_id.message
    extra = error_of('{"type": "ping", "colour": "red"}')
    assert extra.field == "colour" and "unknown field" in extra.message


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "subscribe"}',
        '{"type": "subscribe", "images": []}',
        '{"type": "subscribe", "images": ["a"], "all": true}',
        '{"type": "unsubscribe", "all": false}',
    ],
)
def test_a_selection_needs_images_or_all(text: str) -> None:
    error = error_of(text)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert '"images"' in error.message and '"all"' in error.message


def test_since_needs_all_and_a_timezone() -> None:
    assert (
        "since"
        in error_of(
            '{"type": "subscribe", "images": ["a"], "since": "2030-01-01T00:00:00Z"}'
        ).message
    )
    naive = error_of('{"type": "subscribe", "all": true, "since": "2030-01-01T00:00:00"}')
    assert naive.field == "since"
