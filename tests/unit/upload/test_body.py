"""Reading upload bodies as they stream in, with a request built in memory."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from services.upload.api.body import MULTIPART_OVERHEAD, read_upload
from services.upload.domain.errors import ErrorCode, Rejected

BOUNDARY = "xYzBoundary"


def request(body: bytes, content_type: str | None, chunk: int = 1000) -> tuple[Request, list[int]]:
    """A request delivering ``body`` in chunks; the list counts the chunks handed out."""
    headers = [(b"content-type", content_type.encode())] if content_type else []
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    handed: list[int] = []

    async def receive() -> Message:
        index = len(handed)
        handed.append(index)
        return {
            "type": "http.request",
            "body": pieces[index],
            "more_body": index < len(pieces) - 1,
        }

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive), handed


def multipart(parts: list[tuple[str, bytes]], close: bool = True) -> bytes:
    out = b""
    for name, data in parts:
        filename = '; filename="photo.jpg"' if name == "file" else ""
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


FORM = f"multipart/form-data; boundary={BOUNDARY}"


async def test_raw_body_is_read_whole() -> None:
    req, _ = request(b"x" * 5000, "image/jpeg")
    body = await read_upload(req, 10_000)
    assert body.data == b"x" * 5000 and body.form_options == {}


async def test_raw_body_over_the_limit_stops_at_the_crossing_chunk() -> None:
    req, handed = request(b"x" * 50_000, "application/octet-stream")
    with pytest.raises(Rejected) as caught:
        await read_upload(req, 10_000)
    assert caught.value.code is ErrorCode.BODY_TOO_LARGE
    assert len(handed) == 11  # 11 chunks of 1000 cross 10 000; the other 39 are never read


async def test_multipart_gives_the_file_and_the_options() -> None:
    data = multipart([("background", b"#fff"), ("file", b"\xff\xd8\xff" + b"1" * 3000)])
    req, _ = request(data, FORM, chunk=7)
    body = await read_upload(req, 10_000)
    assert body.data == b"\xff\xd8\xff" + b"1" * 3000
    assert body.form_options == {"background": "#fff"}


async def test_multipart_file_over_the_limit_is_refused_while_streaming() -> None:
    data = multipart([("file", b"1" * (MULTIPART_OVERHEAD + 50_000))])
    req, handed = request(data, FORM)
    with pytest.raises(Rejected) as caught:
        await read_upload(req, 10_000)
    assert caught.value.code is ErrorCode.BODY_TOO_LARGE
    assert len(handed) < 20


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        (multipart([("background", b"#fff")]), FORM, ErrorCode.MISSING_FILE),
        (multipart([("file", b"1")], close=False), FORM, ErrorCode.MALFORMED_MULTIPART),
        (multipart([("file", b"1"), ("file", b"2")]), FORM, ErrorCode.MALFORMED_MULTIPART),
        (b"garbage", FORM, ErrorCode.MALFORMED_MULTIPART),
        (b"1", "multipart/form-data", ErrorCode.MALFORMED_MULTIPART),
        (b"{}", "application/json", ErrorCode.UNSUPPORTED_CONTENT_TYPE),
        (multipart([("file", b"1"), ("model", b"m" * 2000)]), FORM, ErrorCode.INVALID_OPTION),
    ],
)
async def test_malformed_forms_are_refused_with_their_code(
    data: bytes, content_type: str, code: ErrorCode
) -> None:
    req, _ = request(data, content_type)
    with pytest.raises(Rejected) as caught:
        await read_upload(req, 10_000)
    assert caught.value.code is code
