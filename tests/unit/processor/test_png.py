"""The fast PNG encoder: exact pixels, valid checksums, strips, profiles, both deflaters."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from services.processor.domain import png


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _idat(data: bytes) -> bytes:
    """The concatenated IDAT payload, checking every chunk's CRC on the way."""
    position, payload = len(png.SIGNATURE), b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IDAT":
            payload += body
        position += 12 + length
    return payload


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (37, 5), (1500, 1500)])
def test_round_trip_is_exact(mode: str, width: int, height: int) -> None:
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.random.default_rng(width).integers(0, 256, (height, width, channels), np.uint8)
    image = Image.fromarray(pixels.squeeze(axis=2) if channels == 1 else pixels, mode=mode)
    data = png.encode_png(image, level=1)
    decoded = _decode(data)
    assert decoded.mode == mode and decoded.size == (width, height)
    assert np.array_equal(np.asarray(decoded), np.asarray(image))
    # The zlib stream stands on its own: header, deflate blocks, Adler-32 all valid.
    raw = zlib.decompress(_idat(data))
    assert len(raw) == height * (width * channels + 1)


def test_strips_and_threads_give_the_same_pixels_as_one_thread() -> None:
    image = Image.fromarray(
        np.random.default_rng(3).integers(0, 256, (2000, 1400, 4), np.uint8), mode="RGBA"
    )
    single = png.encode_png(image, level=1, threads=1)
    parallel = png.encode_png(image, level=1, threads=3)
    assert np.array_equal(np.asarray(_decode(single)), np.asarray(_decode(parallel)))


def test_adler32_combine_matches_zlib() -> None:
    a, b = b"first part " * 1000, b"and the second" * 7777
    combined = png.adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b))
    assert combined == zlib.adler32(a + b)
    assert png.adler32_combine(1, zlib.adler32(b), len(b)) == zlib.adler32(b)


def test_icc_profile_is_embedded() -> None:
    data = png.encode_png(Image.new("RGB", (3, 3)), level=1, icc_profile=b"some-profile")
    assert _decode(data).info["icc_profile"] == b"some-profile"


def test_stdlib_zlib_works_as_the_deflater(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png, "deflate_backend", zlib)
    image = Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).astype(np.uint8))
    assert np.array_equal(np.asarray(_decode(png.encode_png(image, level=9))), np.asarray(image))


def test_unsupported_modes_and_empty_images_are_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        png.encode_png(Image.new("CMYK", (2, 2)), level=1)
    with pytest.raises(ValueError, match="pixel"):
        png.encode_png(Image.new("L", (0, 0)), level=1)
