"""What a client may send, and a precise error for anything else. Pure.

Messages are JSON objects with a ``type``:

- ``{"type": "auth", "key": "..."}`` -- the API key, when it was not given on the handshake;
- ``{"type": "subscribe", "images": ["id", ...]}`` or
  ``{"type": "subscribe", "all": true, "since": "2025-01-01T00:00:00Z"}``;
- ``{"type": "unsubscribe", "images": ["id", ...]}`` or ``{"type": "unsubscribe", "all": true}``;
- ``{"type": "ping"}``.

Each may carry a ``request_id`` (1-128 characters) that the answer echoes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.values import IDENTIFIER_PATTERN
from services.notifier.domain.server_messages import ErrorCode

ImageId = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)]
RequestId = Annotated[str, Field(min_length=1, max_length=128)]
MAX_IMAGES_PER_MESSAGE = 1000


class ProtocolError(Exception):
    """A client message that cannot be acted on; the answer is an ``error`` message."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id


class _ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: RequestId | None = None


class Auth(_ClientMessage):
    type: Literal["auth"]
    key: Annotated[str, Field(min_length=1, max_length=256)]


class Ping(_ClientMessage):
    type: Literal["ping"]


class _Selection(_ClientMessage):
    images: Annotated[list[ImageId], Field(max_length=MAX_IMAGES_PER_MESSAGE)] | None = None
    all: bool = False

    @model_validator(mode="after")
    def _images_or_all(self) -> _Selection:
        if self.all == bool(self.images):
            raise ValueError('give either a non-empty "images" list or "all": true')
        return self


class Subscribe(_Selection):
    type: Literal["subscribe"]
    since: AwareDatetime | None = None

    @model_validator(mode="after")
    def _since_with_all(self) -> Subscribe:
        if self.since is not None and not self.all:
            raise ValueError('"since" goes with "all": true')
        return self


class Unsubscribe(_Selection):
    type: Literal["unsubscribe"]


ClientMessage = Auth | Ping | Subscribe | Unsubscribe
_MODELS: dict[str, type[ClientMessage]] = {
    "auth": Auth,
    "ping": Ping,
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
}


def parse(text: str) -> ClientMessage:
    """The message in ``text``; `ProtocolError` naming the problem otherwise."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            ErrorCode.MALFORMED_JSON,
            f"message is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except RecursionError:
        raise ProtocolError(ErrorCode.MALFORMED_JSON, "message is nested too deeply") from None
    if not isinstance(data, dict):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"a message must be a JSON object, not {_json_kind(data)}",
        )
    request_id = data.get("request_id")
    echo = request_id if isinstance(request_id, str) and 0 < len(request_id) <= 128 else None
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            'field "type" is required and must be a string',
            field="type",
            request_id=echo,
        )
    model = _MODELS.get(kind)
    if model is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {kind[:64]!r}; expected one of: {', '.join(sorted(_MODELS))}",
            field="type",
            request_id=echo,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = _describe(exc)
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"invalid {kind} message: {message}",
            field=field,
            request_id=echo,
        ) from None


def _describe(exc: ValidationError) -> tuple[str | None, str]:
    problems = []
    first_field: str | None = None
    for error in exc.errors(include_url=False)[:3]:
        location = ".".join(str(part) for part in error["loc"])
        first_field = first_field or location or None
        text = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            text = "unknown field"
        problems.append(f"{location}: {text}" if location else text)
    return first_field, "; ".join(problems)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
