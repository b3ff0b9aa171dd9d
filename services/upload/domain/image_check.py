"""What an uploaded body really is, decided from its bytes alone (never its name or the
content type the client claims), before anything is stored.

The checks run cheapest first: the magic bytes (415 for anything that is not one of the
supported image formats), the header (width and height, so a decompression bomb is refused
before a single pixel is decoded), the minimum size, then a full decode (a truncated or
corrupt file is refused) and a check that the pixel mode converts to RGBA, which is what the
processor works on. CMYK, palette, grayscale, 16-bit and alpha images are accepted.

CPU-bound: call it from a worker thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from services.upload.domain.errors import ErrorCode, Rejected

# Media type -> Pillow format name; the only decoders ever used on client bytes.
SUPPORTED = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/tiff": "TIFF",
}
_EXIF_ORIENTATION = 0x0112
# EXIF orientations that rotate by 90 or 270 degrees, swapping width and height.
_TRANSPOSED = {5, 6, 7, 8}


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_pixels: int
    min_dimension: int


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """A valid image: its media type, and its size as displayed (EXIF orientation applied)."""

    content_type: str
    width: int
    height: int
    mode: str
    orientation: int


def sniff(data: bytes) -> str | None:
    """The media type announced by the first bytes, or None when it is no supported image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def inspect_image(data: bytes, limits: ImageLimits) -> ImageFacts:
    """The facts of a valid image, or `Rejected` saying what is wrong with it."""
    if not data:
        raise Rejected(ErrorCode.EMPTY_BODY, "the request has no image: the body is empty")
    content_type = sniff(data)
    if content_type is None:
        raise Rejected(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "the body is not a supported image (by its bytes); send JPEG, PNG, WebP, GIF or TIFF",
        )
    pil_format = SUPPORTED[content_type]
    image = _open(data, pil_format, limits)
    width, height = image.size
    if width * height > limits.max_pixels:
        raise _too_many_pixels(width, height, limits)
    if min(width, height) < limits.min_dimension:
        raise Rejected(
            ErrorCode.IMAGE_TOO_SMALL,
            f"the image is {width}x{height} pixels; both sides must be at least "
            f"{limits.min_dimension}",
            width=width,
            height=height,
        )
    orientation = _orientation(image)
    if pil_format == "PNG":
        _verify_checksums(data)
    _decode(image, width, height)
    if orientation in _TRANSPOSED:
        width, height = height, width
    return ImageFacts(content_type, width, height, image.mode, orientation)


def _too_many_pixels(width: int, height: int, limits: ImageLimits) -> Rejected:
    return Rejected(
        ErrorCode.TOO_MANY_PIXELS,
        f"the image declares {width}x{height} = {width * height} pixels; "
        f"at most {limits.max_pixels} are accepted",
        width=width,
        height=height,
        max_pixels=limits.max_pixels,
    )


def _corrupt(detail: object) -> Rejected:
    """The decoder's own words (object reprs, library phrasing) stay out of the message."""
    text = str(detail).lower()
    why = "it ends early (truncated)" if "truncated" in text else "its data is damaged"
    return Rejected(
        ErrorCode.CORRUPT_IMAGE,
        f"the image is corrupt and cannot be decoded: {why}; send the complete, original file",
    )


def _open(data: bytes, pil_format: str, limits: ImageLimits) -> Image.Image:
    """Read the header only; no pixel data is decoded here."""
    try:
        with warnings.catch_warnings():
            # Our own, lower limit is checked right after; Pillow's warning adds nothing.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=[pil_format])
    except Image.DecompressionBombError:
        raise Rejected(
            ErrorCode.TOO_MANY_PIXELS,
            f"the image declares far more pixels than accepted (at most {limits.max_pixels})",
            max_pixels=limits.max_pixels,
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failure of a decoder on client bytes
        raise _corrupt(exc) from None


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF only means no orientation
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _verify_checksums(data: bytes) -> None:
    """PNG chunk CRCs; Pillow's decoder does not check them while loading."""
    try:
        Image.open(io.BytesIO(data), formats=["PNG"]).verify()
    except Exception as exc:  # noqa: BLE001 - any failure of a decoder on client bytes
        raise _corrupt(exc) from None


def _decode(image: Image.Image, width: int, height: int) -> None:
    try:
        if image.format == "JPEG":
            # Decoding at 1/8 scale still reads every byte of the entropy-coded data, so
            # truncation and corruption are found, at about half the cost of a full decode.
            image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
        image.load()
        # The mode must convert to RGBA (CMYK, palette, 16-bit, grayscale all do).
        image.crop((0, 0, min(image.width, 8), 1)).convert("RGBA")
    except Exception as exc:  # noqa: BLE001 - any failure of a decoder on client bytes
        raise _corrupt(exc) from None
