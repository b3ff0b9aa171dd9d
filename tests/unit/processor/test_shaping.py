"""The cut-out's shape: the subject's box, the crop with its margin, alpha alone, presets."""

from __future__ import annotations

import numpy as np
from PIL import Image

from schemas import Channels, ForegroundBox, ProcessingOptions, SizePreset
from schemas.values import crop_margin_pixels
from services.common.shaping import (
    fit_to_pixels,
    foreground_box,
    shape_cutout,
    shape_key,
)


def options(**changes: object) -> ProcessingOptions:
    return ProcessingOptions(output_format="png", background="transparent").model_copy(
        update=changes
    )


def subject() -> tuple[Image.Image, Image.Image]:
    alpha = np.zeros((60, 80), dtype=np.uint8)
    alpha[10:30, 20:50] = 255
    alpha[5, 5] = 127  # below the threshold: not part of the box
    rgb = np.full((60, 80, 3), 90, dtype=np.uint8)
    image = Image.fromarray(rgb).convert("RGBA")
    image.putalpha(Image.fromarray(alpha))
    return image, Image.fromarray(alpha, mode="L")


def test_the_box_holds_the_half_opaque_pixels_only() -> None:
    _, alpha = subject()
    assert foreground_box(np.asarray(alpha)) == ForegroundBox(top=10, left=20, width=30, height=20)
    assert foreground_box(np.zeros((4, 4), dtype=np.uint8)) is None


def test_crop_keeps_the_box_and_its_margin_transparent_beyond_the_image() -> None:
    image, alpha = subject()
    box = foreground_box(np.asarray(alpha))
    margin = "15px 0px 0px 50%"
    assert box is not None
    assert crop_margin_pixels(margin, box) == (15, 0, 0, 15)
    shaped = shape_cutout(image, alpha, box, options(crop=True, crop_margin=margin), None)
    # 15 rows above (5 of them beyond the top edge), 15 columns left.
    assert shaped.size == (45, 35)
    pixels = np.asarray(shaped)
    assert pixels[0:5, :, 3].max() == 0
    assert pixels[15:35, 15:45, 3].min() == 255


def test_alpha_alone_is_greyscale_and_presets_bound_the_pixels() -> None:
    image, alpha = subject()
    box = foreground_box(np.asarray(alpha))
    shaped = shape_cutout(image, alpha, box, options(channels=Channels.ALPHA), None)
    assert shaped.mode == "L" and np.array_equal(np.asarray(shaped), np.asarray(alpha))
    assert fit_to_pixels((4000, 3000), 250_000) == (577, 433)
    assert fit_to_pixels((400, 300), 250_000) == (400, 300)
    big = Image.new("RGBA", (1000, 1000))
    shaped = shape_cutout(big, big.getchannel("A"), None, options(size=SizePreset.PREVIEW), None)
    assert shaped.size == (500, 500)


def test_crop_on_a_background_colour_pads_with_that_colour() -> None:
    image, alpha = subject()
    flat = Image.new("RGB", image.size, (255, 0, 0))
    box = ForegroundBox(top=0, left=0, width=10, height=10)
    shaped = shape_cutout(
        flat, alpha, box, options(crop=True, crop_margin="5px 0px 0px 0px"), (255, 0, 0)
    )
    assert shaped.size == (10, 15) and shaped.getpixel((0, 0)) == (255, 0, 0)


def test_unshaped_options_keep_the_old_content_key() -> None:
    assert shape_key(options()) == ""
    assert shape_key(options(size=SizePreset.FULL)) == ""
    assert shape_key(options(crop=True, size=SizePreset.HD)) == "crop-px4000000"
