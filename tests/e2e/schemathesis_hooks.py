"""What schemathesis needs to know about this API that JSON Schema cannot say, loaded by the
contract test through `SCHEMATHESIS_HOOKS`. Every check still runs on every response; these
hooks only make the requests schemathesis calls valid be valid by the rules the document
states in words:

- an image body is an image file of at least the minimum size (`CLEARCUT_UPLOAD_MIN_DIMENSION`),
  not a 1x1 sample or random bytes (the document's request body description);
- a valid `cursor` is one the API wrote (here: written by the same encoder for a random
  position), `since` comes before `until`, and a usage range spans at most 366 days;
- `crop_margin` applies only with `crop=true` (the upload's description; a margin without it
  is refused), so a valid upload that has one gets `crop=true` too;
- an `Idempotency-Key` names one request: a valid case gets a key of its own, so two
  different requests never share one (422 `idempotency_key_reused` is the documented answer
  when they do).

Invalid (negative) cases are left as schemathesis drew them."""

from __future__ import annotations

import io
import os
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import schemathesis
from hypothesis import strategies as st
from PIL import Image

from services.upload.domain.listing import encode_cursor
from services.upload.domain.options import parse_crop_margin, parse_flag
from services.upload.domain.usage import MAX_DAYS

MIN_SIDE = int(os.environ.get("CLEARCUT_UPLOAD_MIN_DIMENSION", "16"))
FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/tiff": "TIFF",
}


@st.composite
def _images(draw: st.DrawFn, image_format: str | None = None) -> bytes:
    width = draw(st.integers(MIN_SIDE, MIN_SIDE * 4))
    height = draw(st.integers(MIN_SIDE, MIN_SIDE * 4))
    colour = draw(st.tuples(*[st.integers(0, 255)] * 3))
    chosen = image_format or draw(st.sampled_from(sorted(FORMATS.values())))
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, chosen)
    return out.getvalue()


for _media_type, _format in FORMATS.items():
    schemathesis.openapi.media_type(_media_type, _images(_format))
# The raw body's generic type: any of the image files.
schemathesis.openapi.media_type("application/octet-stream", _images())
# schemathesis sends the bytes of the image types it knows as they are; TIFF the same way.
schemathesis.serializer.alias("image/tiff", "application/octet-stream")


def _positive(case: Any) -> bool:
    return case.meta is None or case.meta.generation.mode.is_positive


def _as_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _as_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """Runs for every request of every phase (examples, coverage, fuzzing, stateful)."""
    if not _positive(case):
        return
    query = case.query
    if query:
        if isinstance(query.get("cursor"), str):
            query["cursor"] = encode_cursor(
                datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=len(query["cursor"])),
                query["cursor"][:64] or "0",
            )
        if case.operation.path == "/v1/usage":
            _usage_range(query)
        else:
            _time_range(query)
    if case.operation.path == "/v1/images" and case.operation.method.upper() == "POST":
        _margin_with_crop(case)
    headers = case.headers
    key = headers.get("Idempotency-Key") if headers else None
    if isinstance(key, str):
        headers["Idempotency-Key"] = key[:200] + "-" + uuid.uuid4().hex


def _margin_with_crop(case: Any) -> None:
    """A form field wins over the query parameter of the same name (as the server reads
    them); where the margin that counts is set, the crop that counts is made true."""
    query = case.query if isinstance(case.query, dict) else {}
    form = case.body if isinstance(case.body, dict) else {}

    def effective(name: str) -> Any:
        return form.get(name, query.get(name))

    margin = effective("crop_margin")
    if not isinstance(margin, str) or parse_crop_margin(margin) is None:
        return
    crop = effective("crop")
    if isinstance(crop, str) and parse_flag("crop", crop):
        return
    (form if "crop" in form else query if case.query is not None else form)["crop"] = "true"
    if case.query is None and not form:
        case.query = {"crop": "true"}


def _time_range(query: dict[str, Any]) -> None:
    since, until = _as_time(query.get("since")), _as_time(query.get("until"))
    if since is None or until is None or since.tzinfo is None or until.tzinfo is None:
        return
    if since == until:
        query.pop("until")
    elif since > until:
        query["since"], query["until"] = query["until"], query["since"]


def _usage_range(query: dict[str, Any]) -> None:
    since, until = _as_date(query.get("since")), _as_date(query.get("until"))
    today = datetime.now(UTC).date()
    end = until or today + timedelta(days=1)
    start = since or end - timedelta(days=30)
    if start >= end or (end - start).days > MAX_DAYS:
        # Keep the drawn day that is present, and put the other within range of it.
        if since is not None:
            query["until"] = (since + timedelta(days=1)).isoformat()
        else:
            query["since"] = (end - timedelta(days=1)).isoformat()
