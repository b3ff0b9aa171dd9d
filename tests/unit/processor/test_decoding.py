"""Decoding rules: orientation, modes, bit depths, transparency, frames, bad bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from schemas.values import FailureReason
from services.processor.domain.decoding import (
    decode_image,
    scale_float_grey,
    scale_integer_grey,
)
from services.processor.domain.errors import ProcessingError
from tests.unit.processor import samples

LIMIT = 50_000_000


def test_exif_orientation_is_applied() -> None:
    upright = samples.photo("coffee")
    decoded = decode_image(samples.exif_rotated_jpeg(upright, quality=98), max_pixels=LIMIT)
    assert decoded.size == (600, 400)
    difference = np.abs(np.asarray(decoded.rgb, dtype=int) - upright.astype(int))
    assert difference.mean() < 3, "the pixels must be turned back upright, not only the size"


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    values = np.linspace(0, 65535, 256 * 4, dtype=np.uint16).reshape(4, 256)
    decoded = decode_image(samples.png16(values), max_pixels=LIMIT)
    grey = np.asarray(decoded.rgb)[..., 0]
    assert decoded.source_mode.startswith("I;16")
    assert grey.min() == 0 and grey.max() == 255
    # Clipping would turn everything above 255/65535 white; scaling keeps the ramp.
    assert (grey == 255).mean() < 0.01
    assert np.all(np.abs(grey.astype(int) - np.rint(values / 257.0)) <= 1)


def test_sixteen_bit_rgb_matches_its_eight_bit_original() -> None:
    photo = samples.photo("coffee")
    decoded = decode_image(samples.png16(samples.to_16bit(photo)), max_pixels=LIMIT)
    assert np.array_equal(np.asarray(decoded.rgb), photo)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0, 65535]], dtype=np.uint16), [0, 255]),
        (np.array([[0, 32768]], dtype=np.int32), [0, 128]),  # 16-bit data in a 32-bit image
        (np.array([[3, 200]], dtype=np.int32), [3, 200]),  # 8-bit data in a 32-bit image
        (np.array([[-10, 90]], dtype=np.int32), [0, 255]),  # anything else is stretched
    ],
)
def test_integer_grey_scaling_rules(values: np.ndarray, expected: list[int]) -> None:
    assert scale_integer_grey(values).tolist() == [expected]


def test_float_grey_in_unit_range_is_scaled_and_other_ranges_stretched() -> None:
    assert scale_float_grey(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).tolist() == [
        [0, 128, 255]
    ]
    assert scale_float_grey(np.array([[2.0, 4.0]], dtype=np.float32)).tolist() == [[0, 255]]
    assert scale_float_grey(np.array([[np.nan, 1.0]], dtype=np.float32)).tolist() == [[0, 255]]


def test_float_tiff_decodes() -> None:
    image = Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), mode="F")
    decoded = decode_image(samples.encode(image, "TIFF"), max_pixels=LIMIT)
    assert decoded.rgb.mode == "RGB"
    assert np.asarray(decoded.rgb).max() == 255


def test_cmyk_becomes_rgb() -> None:
    photo = samples.photo("coffee")
    decoded = decode_image(samples.cmyk_jpeg(photo, quality=98), max_pixels=LIMIT)
    assert decoded.source_mode == "CMYK"
    assert decoded.rgb.mode == "RGB"
    assert np.abs(np.asarray(decoded.rgb, dtype=int) - photo.astype(int)).mean() < 4
    assert decoded.icc_profile is None


def test_cmyk_with_an_unusable_profile_falls_back_to_the_formula() -> None:
    photo = samples.photo("coffee")
    image = Image.fromarray(photo).convert("CMYK")
    data = samples.encode(image, "JPEG", quality=98, icc_profile=b"not a real profile")
    decoded = decode_image(data, max_pixels=LIMIT)
    assert np.abs(np.asarray(decoded.rgb, dtype=int) - photo.astype(int)).mean() < 4


def test_rgb_icc_profile_is_kept_for_the_results() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = samples.encode(Image.fromarray(samples.photo("coffee")), "PNG", icc_profile=profile)
    assert decode_image(data, max_pixels=LIMIT).icc_profile == profile


def test_palette_with_a_transparent_index_keeps_its_transparency() -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    decoded = decode_image(samples.encode(image, "PNG", transparency=0), max_pixels=LIMIT)
    assert decoded.alpha is not None
    assert decoded.alpha.getpixel((0, 0)) == 0
    assert decoded.alpha.getpixel((1, 1)) == 255
    assert decoded.rgb.getpixel((1, 1)) == (255, 0, 0)


def test_palette_without_transparency_is_plain_rgb() -> None:
    decoded = decode_image(samples.palette_png(samples.photo("coffee")), max_pixels=LIMIT)
    assert decoded.rgb.mode == "RGB" and decoded.alpha is None


def test_rgba_alpha_is_kept_and_opaque_alpha_dropped() -> None:
    photo = samples.photo("coffee")
    decoded = decode_image(samples.with_transparent_border(photo, 10), max_pixels=LIMIT)
    assert decoded.alpha is not None
    assert decoded.alpha.getpixel((0, 0)) == 0
    opaque = samples.png(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]))
    assert decode_image(opaque, max_pixels=LIMIT).alpha is None


def test_greyscale_with_alpha() -> None:
    image = Image.new("LA", (3, 3), (200, 0))
    image.putpixel((1, 1), (50, 255))
    decoded = decode_image(samples.encode(image, "PNG"), max_pixels=LIMIT)
    assert decoded.rgb.getpixel((1, 1)) == (50, 50, 50)
    assert decoded.alpha is not None and decoded.alpha.getpixel((0, 0)) == 0


def test_bilevel_and_greyscale_become_rgb() -> None:
    for mode in ("1", "L"):
        image = Image.new(mode, (5, 5), 1 if mode == "1" else 90)
        decoded = decode_image(samples.encode(image, "PNG"), max_pixels=LIMIT)
        assert decoded.rgb.mode == "RGB"


def test_animated_image_uses_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = io.BytesIO()
    frames[0].save(data, "GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_image(data.getvalue(), max_pixels=LIMIT)
    assert decoded.rgb.getpixel((4, 4)) == (255, 0, 0)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n garbage", b"<html>not an image</html>"],
    ids=["empty", "broken-png", "html"],
)
def test_undecodable_bytes_fail_with_a_clear_reason(data: bytes) -> None:
    with pytest.raises(ProcessingError) as caught:
        decode_image(data, max_pixels=LIMIT)
    assert caught.value.reason is FailureReason.IMAGE_UNDECODABLE
    assert caught.value.retriable is False


def test_truncated_jpeg_is_undecodable() -> None:
    data = samples.jpeg(samples.photo("coffee"))
    with pytest.raises(ProcessingError) as caught:
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)
    assert caught.value.reason is FailureReason.IMAGE_UNDECODABLE


def test_too_many_pixels_is_unsupported_before_decoding() -> None:
    data = samples.png(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ProcessingError) as caught:
        decode_image(data, max_pixels=9_999)
    assert caught.value.reason is FailureReason.IMAGE_UNSUPPORTED
    assert "100x100" in caught.value.message
