"""Listing parameters and the opaque cursor: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.listing import (
    MAX_LIMIT,
    Page,
    decode_cursor,
    encode_cursor,
    page_request,
)
from services.upload.domain.progress import ImageStatus
from services.upload.domain.projection import apply_to_image, apply_to_task
from tests.unit.upload import events as ev

AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def test_a_cursor_names_its_position_exactly() -> None:
    cursor = encode_cursor(AT, "img-1")
    assert decode_cursor(cursor) == (AT, "img-1")
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor


@pytest.mark.parametrize(
    "cursor",
    ["", "not-base64!", "bm90IGpzb24", encode_cursor(AT, "x")[:-3], "eyJ0IjoxfQ"],
)
def test_a_cursor_this_api_did_not_write_is_refused(cursor: str) -> None:
    with pytest.raises(Rejected) as refused:
        decode_cursor(cursor)
    assert refused.value.code is ErrorCode.INVALID_CURSOR


def test_parameters_are_checked() -> None:
    ok = page_request(10, ImageStatus.COMPLETED, AT, AT + timedelta(1), encode_cursor(AT, "i"))
    assert ok.limit == 10 and ok.after == (AT, "i") and ok.status is ImageStatus.COMPLETED
    for limit in (0, MAX_LIMIT + 1):
        with pytest.raises(Rejected, match="limit"):
            page_request(limit, None, None, None, None)
    with pytest.raises(Rejected, match="before until"):
        page_request(10, None, AT, AT, None)
    with pytest.raises(Rejected, match="timezone"):
        page_request(10, None, AT.replace(tzinfo=None), None, None)


def test_the_next_cursor_is_the_last_item_only_when_there_is_more() -> None:
    event = ev.uploaded("img-a", "task-a")
    image = apply_to_image(None, event, apply_to_task(None, event))
    assert image is not None
    assert Page([image], more=False).next_cursor is None
    assert decode_cursor(Page([image], more=True).next_cursor or "") == (
        image.uploaded_at,
        "img-a",
    )
