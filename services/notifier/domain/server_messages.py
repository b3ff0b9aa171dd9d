"""What the server sends, rendered once as compact JSON text. Pure.

Every message is a JSON object with a ``type``: ``welcome``, ``snapshot``, ``event``,
``unsubscribed``, ``pong`` or ``error``. An event message is rendered once per event and
the same text goes to every recipient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable codes of ``error`` messages."""

    MALFORMED_JSON = "malformed_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_FRAME = "unsupported_frame"
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    UNAUTHORIZED = "unauthorized"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    UNKNOWN_IMAGE = "unknown_image"
    UNAVAILABLE = "unavailable"


def _dump(message: Mapping[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def _with_request(message: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    if request_id is not None:
        message["request_id"] = request_id
    return message


def welcome(owner: str, *, heartbeat_seconds: float, limits: Mapping[str, int]) -> str:
    return _dump(
        {
            "type": "welcome",
            "owner": owner,
            "heartbeat_seconds": heartbeat_seconds,
            "limits": dict(limits),
        }
    )


def error(
    code: ErrorCode,
    message: str,
    *,
    request_id: str | None = None,
    image_id: str | None = None,
    field: str | None = None,
) -> str:
    body: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if image_id is not None:
        body["image_id"] = image_id
    if field is not None:
        body["field"] = field
    return _dump(_with_request(body, request_id))


def snapshot(
    images: Sequence[Mapping[str, Any]],
    *,
    scope: str,
    request_id: str | None = None,
    truncated: bool = False,
) -> str:
    """The answer to ``subscribe``: the current state of each image it added."""
    body: dict[str, Any] = {"type": "snapshot", "scope": scope, "images": list(images)}
    if scope == "all":
        body["truncated"] = truncated
    return _dump(_with_request(body, request_id))


def unsubscribed(images: Sequence[str], *, all_images: bool, request_id: str | None) -> str:
    body: dict[str, Any] = {"type": "unsubscribed", "images": list(images), "all": all_images}
    return _dump(_with_request(body, request_id))


def pong(request_id: str | None) -> str:
    return _dump(_with_request({"type": "pong"}, request_id))


def event(image_id: str, cloud_event: Mapping[str, Any], links: Mapping[str, str]) -> str:
    """An event: the CloudEvent in structured form under ``event``, links beside it."""
    return _dump({"type": "event", "image_id": image_id, "event": cloud_event, "links": links})
