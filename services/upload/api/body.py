"""Reading an upload from the request body while it streams in, within the byte limit.

Two shapes are accepted: a raw body (`image/*`, `application/octet-stream`, or no content
type) and `multipart/form-data` with the image in the `file` part and, optionally, the
options as form fields. The byte limit is enforced as chunks arrive: a declared
`Content-Length` over it is refused before reading, and a body that grows past it is refused
at the chunk that crosses it, so an oversized upload is never buffered whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from services.upload.domain.errors import ErrorCode, Rejected, shown

FILE_FIELD = "file"
OPTION_FIELDS = (
    "output_format",
    "background",
    "model",
    "foreground_estimation",
    "crop",
    "crop_margin",
    "channels",
    "size",
    "callback_url",
)
# Room for multipart boundaries, part headers and option fields around the image bytes.
MULTIPART_OVERHEAD = 64 * 1024
_MAX_FIELD_BYTES = 1024
RAW_TYPES = ("application/octet-stream",)


@dataclass
class UploadBody:
    data: bytes
    form_options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FormShape:
    """Which parts of a form are read: ``files`` (name -> byte limit, of which ``required``
    must be there unless empty) and short text ``options``; other parts are ignored."""

    files: dict[str, int]
    options: tuple[str, ...]
    required: str | None = None


@dataclass
class FormBody:
    files: dict[str, bytes]
    options: dict[str, str]


def _too_large(limit: int) -> Rejected:
    return Rejected(
        ErrorCode.BODY_TOO_LARGE,
        f"the upload is larger than the limit of {limit} bytes",
        max_bytes=limit,
    )


async def read_upload(request: Request, limit: int) -> UploadBody:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        form = await read_form(
            request, FormShape({FILE_FIELD: limit}, OPTION_FIELDS, required=FILE_FIELD), limit
        )
        return UploadBody(form.files[FILE_FIELD], form.options)
    if media_type and not (media_type.startswith("image/") or media_type in RAW_TYPES):
        raise Rejected(
            ErrorCode.UNSUPPORTED_CONTENT_TYPE,
            f"content type {shown(media_type)} is not accepted; send the image as a raw image/* "
            "body or as the `file` part of multipart/form-data",
        )
    return UploadBody(await _read_limited(request, limit, limit))


def _declared_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refused past ``limit`` bytes as it streams in."""
    return await _read_limited(request, limit, limit)


async def _read_limited(request: Request, stream_limit: int, image_limit: int) -> bytes:
    declared = _declared_length(request)
    if declared is not None and declared > stream_limit:
        raise _too_large(image_limit)
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
        if len(buffer) > stream_limit:
            raise _too_large(image_limit)
    return bytes(buffer)


class _FormCollector:
    """python-multipart callbacks gathering the `file` part and the option fields."""

    def __init__(self, shape: FormShape, image_limit: int) -> None:
        self.shape = shape
        self.image_limit = image_limit
        self.fields: dict[str, bytearray] = {}
        self.finished = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._current: str | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._current = None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).decode("latin-1").lower()] = bytes(
            self._header_value
        )
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition"))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name in self.fields:
            raise Rejected(
                ErrorCode.MALFORMED_MULTIPART, f"the form has more than one {shown(name)}"
            )
        if name in self.shape.files or name in self.shape.options:
            self.fields[name] = bytearray()
            self._current = name
        else:
            self._current = None  # unknown fields are ignored

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            return
        target = self.fields[self._current]
        target += data[start:end]
        file_limit = self.shape.files.get(self._current)
        if file_limit is not None:
            if len(target) > file_limit:
                raise _too_large(self.image_limit)
        elif len(target) > _MAX_FIELD_BYTES:
            raise Rejected(
                ErrorCode.INVALID_OPTION,
                f"form field {shown(self._current)} is longer than {_MAX_FIELD_BYTES} bytes",
                option=self._current,
            )

    def _end(self) -> None:
        self.finished = True


async def read_form(request: Request, shape: FormShape, limit: int) -> FormBody:
    """A `multipart/form-data` body as ``shape`` says, within the byte limits while it
    streams in (``limit``: the image's, for the messages)."""
    content_type = request.headers.get("content-type", "")
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise Rejected(ErrorCode.MALFORMED_MULTIPART, "multipart/form-data needs a boundary")
    declared = _declared_length(request)
    stream_limit = max(shape.files.values(), default=0) + MULTIPART_OVERHEAD
    if declared is not None and declared > stream_limit:
        raise _too_large(limit)
    collector = _FormCollector(shape, limit)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > stream_limit:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise Rejected(ErrorCode.MALFORMED_MULTIPART, f"malformed multipart body: {exc}") from None
    if not collector.finished:
        raise Rejected(ErrorCode.MALFORMED_MULTIPART, "the multipart body ends before its end")
    if shape.required is not None and shape.required not in collector.fields:
        raise Rejected(
            ErrorCode.MISSING_FILE, f"the form has no `{shape.required}` part holding the image"
        )
    options: dict[str, str] = {}
    for name in shape.options:
        if name in collector.fields:
            try:
                options[name] = collector.fields[name].decode("utf-8")
            except UnicodeDecodeError:
                raise Rejected(
                    ErrorCode.INVALID_OPTION, f"form field {shown(name)} is not UTF-8", option=name
                ) from None
    files = {
        name: bytes(collector.fields[name]) for name in shape.files if name in collector.fields
    }
    return FormBody(files, options)
