"""From mask to results: full-size alpha, input transparency, backgrounds, encodings."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from schemas.values import FailureReason, OutputFormat
from services.processor.domain.compose import (
    check_encodable,
    cutout,
    encode_cutout,
    encode_mask,
    full_size_alpha,
    parse_background,
)
from services.processor.domain.errors import ProcessingError


def _rgb(width: int = 40, height: int = 20) -> Image.Image:
    return Image.new("RGB", (width, height), (10, 120, 230))


def test_mask_is_resized_to_the_image() -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 255
    alpha = full_size_alpha(mask, _rgb(), None)
    assert alpha.size == (40, 20) and alpha.mode == "L"
    assert alpha.getpixel((0, 10)) == 0 and alpha.getpixel((39, 10)) == 255


def test_transparent_input_pixels_never_become_opaque() -> None:
    mask = np.full((8, 8), 255, np.uint8)
    source = Image.new("L", (40, 20), 255)
    source.paste(0, (0, 0, 10, 20))
    source.paste(128, (10, 0, 20, 20))
    alpha = np.asarray(full_size_alpha(mask, _rgb(), source))
    assert alpha[:, :10].max() == 0
    assert np.all(alpha[:, 10:20] == 128)
    assert np.all(alpha[:, 20:] == 255)


def test_transparent_cutout_is_rgba_with_the_alpha() -> None:
    alpha = Image.new("L", (40, 20), 77)
    out = cutout(_rgb(), alpha, "transparent")
    assert out.mode == "RGBA"
    assert out.getpixel((3, 3)) == (10, 120, 230, 77)


def test_background_colour_flattens_to_rgb() -> None:
    alpha = Image.new("L", (40, 20), 0)
    alpha.paste(255, (0, 0, 20, 20))
    out = cutout(_rgb(), alpha, "#ff0000")
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (10, 120, 230)
    assert out.getpixel((30, 5)) == (255, 0, 0)


def test_background_parsing() -> None:
    assert parse_background("transparent") is None
    assert parse_background("#0a0b0c") == (10, 11, 12)
    with pytest.raises(ValueError):
        parse_background("red")


def test_webp_refuses_sides_beyond_its_limit() -> None:
    check_encodable(OutputFormat.WEBP, (16383, 100))
    check_encodable(OutputFormat.PNG, (20000, 100))
    with pytest.raises(ProcessingError) as caught:
        check_encodable(OutputFormat.WEBP, (16384, 100))
    assert caught.value.reason is FailureReason.IMAGE_UNSUPPORTED


@pytest.mark.parametrize(
    ("fmt", "content_type"), [(OutputFormat.PNG, "image/png"), (OutputFormat.WEBP, "image/webp")]
)
def test_cutout_encodings_round_trip(fmt: OutputFormat, content_type: str) -> None:
    image = cutout(_rgb(), Image.new("L", (40, 20), 200), "transparent")
    encoded = encode_cutout(image, fmt, png_level=1, webp_quality=90, icc_profile=None)
    assert encoded.content_type == content_type
    assert (encoded.width, encoded.height) == (40, 20)
    decoded = Image.open(io.BytesIO(encoded.data))
    assert decoded.format == fmt.value.upper()
    assert decoded.mode == "RGBA"
    pixel = decoded.getpixel((5, 5))
    assert isinstance(pixel, tuple)
    assert abs(pixel[3] - 200) <= 1


def test_icc_profile_is_embedded() -> None:
    image = cutout(_rgb(), Image.new("L", (40, 20), 255), "transparent")
    encoded = encode_cutout(
        image, OutputFormat.PNG, png_level=1, webp_quality=90, icc_profile=b"profile-bytes"
    )
    assert Image.open(io.BytesIO(encoded.data)).info.get("icc_profile") == b"profile-bytes"


def test_mask_is_an_eight_bit_greyscale_png() -> None:
    encoded = encode_mask(Image.new("L", (40, 20), 9), png_level=1)
    decoded = Image.open(io.BytesIO(encoded.data))
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "L", (40, 20))
    assert encoded.content_type == "image/png"
