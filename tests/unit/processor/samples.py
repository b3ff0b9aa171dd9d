"""Generated test images: photos from scikit-image in every encoding the processor meets."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import numpy as np
from PIL import Image

# EXIF orientation 6: the stored pixels must be turned 90 degrees clockwise to be upright.
ROTATED_CW = 6


@cache
def photo(name: str) -> np.ndarray:
    """``astronaut`` (512x512) or ``coffee`` (600x400) as H x W x 3 uint8 RGB."""
    from skimage import data

    array: np.ndarray = getattr(data, name)()
    return array


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(array: np.ndarray, quality: int = 92) -> bytes:
    return encode(Image.fromarray(array), "JPEG", quality=quality)


def png(array: np.ndarray) -> bytes:
    return encode(Image.fromarray(array), "PNG")


def exif_rotated_jpeg(upright: np.ndarray, quality: int = 92) -> bytes:
    """The upright photo stored turned a quarter counter-clockwise, tagged to be turned back."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))
    exif = Image.Exif()
    exif[0x0112] = ROTATED_CW
    return encode(stored, "JPEG", quality=quality, exif=exif.tobytes())


def cmyk_jpeg(array: np.ndarray, quality: int = 95) -> bytes:
    return encode(Image.fromarray(array).convert("CMYK"), "JPEG", quality=quality)


def palette_png(array: np.ndarray) -> bytes:
    image = Image.fromarray(array).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    return encode(image, "PNG")


def png16(array: np.ndarray) -> bytes:
    """A 16-bit PNG (greyscale H x W or RGB H x W x 3, uint16), written by hand because
    Pillow cannot write 16-bit RGB."""
    if array.dtype != np.uint16:
        raise ValueError("expected uint16")
    height, width = array.shape[:2]
    colour_type = 2 if array.ndim == 3 else 0
    rows = array.astype(">u2").reshape(height, -1).tobytes()
    stride = len(rows) // height
    raw = b"".join(b"\x00" + rows[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def to_16bit(array: np.ndarray) -> np.ndarray:
    """8-bit values as the 16-bit values that mean the same (v * 257)."""
    return array.astype(np.uint16) * 257


def with_transparent_border(array: np.ndarray, border: int) -> bytes:
    """RGBA PNG whose outer ``border`` pixels are fully transparent."""
    alpha = np.zeros(array.shape[:2], dtype=np.uint8)
    alpha[border:-border, border:-border] = 255
    return png(np.dstack([array, alpha]))


def greyscale_png(array: np.ndarray) -> bytes:
    return encode(Image.fromarray(array).convert("L"), "PNG")


def salted(data: bytes, salt: str) -> bytes:
    """The same image with a comment holding ``salt``: other bytes (another sha256), same
    pixels. A PNG gets a tEXt chunk after its header, a JPEG a COM segment after SOI."""
    text = salt.encode()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        body = b"Comment\x00" + text
        chunk = (
            struct.pack(">I", len(body))
            + b"tEXt"
            + body
            + struct.pack(">I", zlib.crc32(b"tEXt" + body))
        )
        end_of_header = 8 + 8 + 13 + 4
        return data[:end_of_header] + chunk + data[end_of_header:]
    if data.startswith(b"\xff\xd8"):
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + data[2:]
    raise ValueError("only PNG and JPEG can be salted")


def iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of two masks (uint8 or [0, 1] floats) at ``threshold``."""
    scale_a = 255.0 if a.dtype == np.uint8 else 1.0
    scale_b = 255.0 if b.dtype == np.uint8 else 1.0
    left = a / scale_a >= threshold
    right = b / scale_b >= threshold
    union = np.logical_or(left, right).sum()
    return float(np.logical_and(left, right).sum() / union) if union else 1.0
