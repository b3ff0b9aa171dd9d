"""Listing an owner's images: the page asked for, the page answered, and the opaque cursor
between them. Pure.

Images are listed newest upload first, ties broken by id (descending), so that a position
(`uploaded_at`, `id`) names exactly where the previous page ended: uploads accepted while
a client pages through land before that position and never shift or repeat later pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime

from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.progress import ImageStatus
from services.upload.domain.projection import ImageState, TaskState

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    status: ImageStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, str] | None = None  # the last (uploaded_at, id) of the previous page


@dataclass(frozen=True, slots=True)
class Page:
    images: list[ImageState]
    current_tasks: dict[str, TaskState] = field(default_factory=dict)
    more: bool = False

    @property
    def next_cursor(self) -> str | None:
        if not self.more or not self.images:
            return None
        last = self.images[-1]
        return encode_cursor(last.uploaded_at, last.id)


def encode_cursor(uploaded_at: datetime, image_id: str) -> str:
    raw = json.dumps({"t": uploaded_at.isoformat(), "i": image_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor() -> Rejected:
    return Rejected(
        ErrorCode.INVALID_CURSOR,
        "cursor is not one this API returned: pass `next_cursor` of the previous page as is",
    )


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; `invalid_cursor` for anything this API did not write."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        at = datetime.fromisoformat(data["t"])
        image_id = data["i"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not isinstance(image_id, str) or not image_id or at.tzinfo is None:
        raise _bad_cursor()
    return at, image_id


def page_request(
    limit: int,
    status: ImageStatus | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
) -> PageRequest:
    """Check the listing parameters; 422 for an unusable range or limit, 400 for a cursor
    this API did not write."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Rejected(ErrorCode.VALIDATION_ERROR, f"limit must be 1..{MAX_LIMIT}", limit=limit)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Rejected(
                ErrorCode.VALIDATION_ERROR,
                f"{name} needs a timezone offset, e.g. 2026-01-02T03:04:05Z",
                parameter=name,
            )
    if since is not None and until is not None and since >= until:
        raise Rejected(ErrorCode.VALIDATION_ERROR, "since must be before until")
    if status is ImageStatus.EXPIRED:
        raise Rejected(
            ErrorCode.VALIDATION_ERROR,
            "status=expired cannot be listed: expiry is decided when an image is read; "
            "list status=completed with an `until` older than the results' retention",
            parameter="status",
        )
    after = None if cursor is None else decode_cursor(cursor)
    return PageRequest(limit=limit, status=status, since=since, until=until, after=after)
