"""Why a request is refused: a stable machine-readable code and a message a person can act on.

The codes are part of the API; the HTTP status for each lives beside the routes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    EMPTY_BODY = "empty_body"
    BODY_TOO_LARGE = "body_too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    CORRUPT_IMAGE = "corrupt_image"
    IMAGE_TOO_SMALL = "image_too_small"
    MALFORMED_MULTIPART = "malformed_multipart"
    MISSING_FILE = "missing_file"
    INVALID_OPTION = "invalid_option"
    UNKNOWN_PARAMETER = "unknown_parameter"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    VALIDATION_ERROR = "validation_error"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONCURRENT_UPLOADS = "too_many_concurrent_uploads"
    QUOTA_EXCEEDED = "quota_exceeded"
    SERVER_BUSY = "server_busy"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    RESULT_NOT_READY = "result_not_ready"
    ORIGINAL_UNAVAILABLE = "original_unavailable"
    INVALID_CURSOR = "invalid_cursor"
    IMAGE_DELETED = "image_deleted"
    RESULT_EXPIRED = "result_expired"
    ORIGINAL_EXPIRED = "original_expired"
    IMAGE_URL_DISABLED = "image_url_disabled"
    IMAGE_URL_REFUSED = "image_url_refused"
    IMAGE_URL_FAILED = "image_url_failed"
    PROCESSING_FAILED = "processing_failed"
    PROCESSING_TIMEOUT = "processing_timeout"
    TOO_MANY_WAITING = "too_many_waiting"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


class Rejected(Exception):
    """A request that is refused, with nothing stored and nothing published."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


ECHO_LIMIT = 40


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """A client's value quoted for a message, cut to ``limit`` characters so that a huge
    value is never echoed back whole."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"
