"""Images and not-images, generated in memory, for the upload tests (unit and integration)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def photo(width: int = 64, height: int = 48, fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    """A noisy gradient, so that encoders cannot shrink it to nothing."""
    rng = np.random.default_rng(width * 7919 + height)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    noise = rng.random((height, width, 3), dtype=np.float32) * 60
    pixels = np.clip(ramp * 0.8 + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def jpeg_of_size(target_bytes: int) -> bytes:
    """A JPEG of roughly ``target_bytes`` (within 10%)."""
    side = 256
    data = photo(side, side)
    while len(data) < target_bytes * 0.9:
        side = int(side * (target_bytes / len(data)) ** 0.5) + 8
        data = photo(side, int(side * 0.75))
    return data


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    image = Image.open(io.BytesIO(jpeg))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def decompression_bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid-looking PNG whose header declares a huge image; only a few KB on the wire."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    rows = zlib.compress(b"\x00" * (width + 1) * 16, 9)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def corrupt_png_crc() -> bytes:
    """A PNG whose IDAT chunk has a wrong CRC (the pixel data itself decodes)."""
    data = bytearray(photo(32, 32, "PNG"))
    at = data.find(b"IDAT")
    (length,) = struct.unpack(">I", data[at - 4 : at])
    data[at + 4 + length] ^= 0xFF
    return bytes(data)


def truncated_jpeg() -> bytes:
    data = photo(128, 96)
    return data[: len(data) // 2]


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<rect width="64" height="64" fill="red"/></svg>'
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TEXT = b"this is not a photo, whatever its name says\n"

# name -> (bytes, HTTP status, error code): the bad inputs every path must refuse.
BAD_INPUTS: dict[str, tuple[bytes, int, str]] = {
    "zero_bytes": (b"", 400, "empty_body"),
    "text_named_jpg": (TEXT, 415, "unsupported_media_type"),
    "svg": (SVG, 415, "unsupported_media_type"),
    "pdf": (PDF, 415, "unsupported_media_type"),
    "truncated_jpeg": (truncated_jpeg(), 422, "corrupt_image"),
    "corrupt_png_crc": (corrupt_png_crc(), 422, "corrupt_image"),
    "decompression_bomb_png": (decompression_bomb_png(), 413, "too_many_pixels"),
    "too_small": (photo(8, 8, "PNG"), 422, "image_too_small"),
}
