from __future__ import annotations

import io

import pytest
from PIL import Image

from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.image_check import ImageLimits, inspect_image, sniff
from tests.unit.upload import samples

LIMITS = ImageLimits(max_pixels=40_000_000, min_dimension=16)


@pytest.mark.parametrize("name", sorted(samples.BAD_INPUTS))
def test_bad_inputs_are_refused_with_their_code(name: str) -> None:
    data, _, code = samples.BAD_INPUTS[name]
    with pytest.raises(Rejected) as caught:
        inspect_image(data, LIMITS)
    assert caught.value.code == ErrorCode(code)
    assert caught.value.message


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("TIFF", "image/tiff"),
    ],
)
def test_supported_formats_are_recognised_by_their_bytes(fmt: str, content_type: str) -> None:
    facts = inspect_image(samples.photo(40, 30, fmt), LIMITS)
    assert (facts.content_type, facts.width, facts.height) == (content_type, 40, 30)


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "LA", "RGBA", "1", "I;16"])
def test_unusual_pixel_modes_are_accepted(mode: str) -> None:
    fmt = {"CMYK": "JPEG", "I;16": "TIFF"}.get(mode, "PNG")
    facts = inspect_image(samples.photo(32, 20, fmt, mode=mode), LIMITS)
    assert (facts.width, facts.height) == (32, 20)
    assert facts.mode == mode


@pytest.mark.parametrize(("orientation", "size"), [(1, (60, 40)), (3, (60, 40)), (6, (40, 60))])
def test_exif_orientation_is_applied_to_width_and_height(
    orientation: int, size: tuple[int, int]
) -> None:
    data = samples.with_exif_orientation(samples.photo(60, 40), orientation)
    facts = inspect_image(data, LIMITS)
    assert (facts.width, facts.height) == size
    assert facts.orientation == orientation


def test_pixel_limit_is_checked_from_the_header() -> None:
    data = samples.photo(100, 100, "PNG")
    with pytest.raises(Rejected) as caught:
        inspect_image(data, ImageLimits(max_pixels=9_999, min_dimension=16))
    assert caught.value.code is ErrorCode.TOO_MANY_PIXELS
    assert caught.value.details["max_pixels"] == 9_999


def test_a_huge_declared_size_is_refused_without_decoding() -> None:
    # 400 megapixels would take 400 MB to decode; the header alone decides.
    bomb = samples.decompression_bomb_png(20_000, 20_000)
    assert len(bomb) < 64 * 1024
    with pytest.raises(Rejected) as caught:
        inspect_image(bomb, LIMITS)
    assert caught.value.code is ErrorCode.TOO_MANY_PIXELS


def test_the_claimed_name_or_type_does_not_matter_only_bytes() -> None:
    assert sniff(samples.TEXT) is None
    assert sniff(samples.photo(20, 20, "PNG")) == "image/png"


def test_a_png_body_that_breaks_inside_the_pixel_data_is_corrupt() -> None:
    data = bytearray(samples.photo(64, 64, "PNG"))
    at = data.find(b"IDAT") + 12
    data[at : at + 8] = b"\x00" * 8
    with pytest.raises(Rejected) as caught:
        inspect_image(bytes(data), LIMITS)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_a_jpeg_whose_header_says_png_is_corrupt_not_a_crash() -> None:
    data = samples.PNG_SIGNATURE + samples.photo(20, 20)
    with pytest.raises(Rejected) as caught:
        inspect_image(data, LIMITS)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
    assert Image.open(io.BytesIO(samples.photo(20, 20))).format == "JPEG"
