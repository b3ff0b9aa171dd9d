"""What the upload asked of the cut-out's shape: the subject's box, the crop to it with a
margin, the alpha alone, a size preset. The mask is never shaped: it stays the model's
mask at the oriented original's size, so the same photo gives the same mask whatever the
options."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from schemas.values import Channels, ForegroundBox, ProcessingOptions, SizePreset

# A pixel belongs to the subject when its mask value is at least half opaque.
FOREGROUND_THRESHOLD = 128

# Megapixel budgets of the size presets; absent presets keep the original's size.
PRESET_PIXELS = {
    SizePreset.PREVIEW: 250_000,
    SizePreset.SMALL: 250_000,
    SizePreset.REGULAR: 250_000,
    SizePreset.MEDIUM: 1_500_000,
    SizePreset.HD: 4_000_000,
}


@dataclass(frozen=True)
class Margin:
    """Pixels added around the box on each side."""

    top: int
    right: int
    bottom: int
    left: int


def foreground_box(
    alpha: np.ndarray, threshold: int = FOREGROUND_THRESHOLD
) -> ForegroundBox | None:
    """The smallest rectangle holding every pixel at or above ``threshold``; ``None`` when
    there is none."""
    subject = alpha >= threshold
    rows = np.flatnonzero(subject.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(subject.any(axis=0))
    top, bottom = int(rows[0]), int(rows[-1])
    left, right = int(columns[0]), int(columns[-1])
    return ForegroundBox(top=top, left=left, width=right - left + 1, height=bottom - top + 1)


def parse_margin(text: str | None, box: ForegroundBox) -> Margin:
    """The contract's `Tpx Rpx Bpx Lpx` (or `%` of the box's height for top and bottom, of
    its width for left and right) in pixels."""
    if not text:
        return Margin(0, 0, 0, 0)
    parts = text.split()
    if len(parts) != 4:
        raise ValueError(f"crop margin {text!r} does not have four values")
    sides = []
    for part, extent in zip(parts, (box.height, box.width, box.height, box.width), strict=True):
        if part.endswith("%"):
            sides.append(round(int(part[:-1]) * extent / 100))
        else:
            sides.append(int(part.removesuffix("px")))
    return Margin(*sides)


def fit_to_pixels(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """``size`` scaled down, keeping its aspect ratio, to at most ``max_pixels``."""
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return size
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * factor)), max(1, math.floor(height * factor))


def _crop_with_margin(
    image: Image.Image, box: ForegroundBox, margin: Margin, fill: tuple[int, ...] | int
) -> Image.Image:
    """The box plus the margin; what lies beyond the image is ``fill`` (transparent, or the
    background colour)."""
    left, top = box.left - margin.left, box.top - margin.top
    right = box.left + box.width + margin.right
    bottom = box.top + box.height + margin.bottom
    canvas = Image.new(image.mode, (right - left, bottom - top), fill)
    inside = (max(left, 0), max(top, 0), min(right, image.width), min(bottom, image.height))
    canvas.paste(image.crop(inside), (inside[0] - left, inside[1] - top))
    return canvas


def shape_cutout(
    image: Image.Image,
    alpha: Image.Image,
    box: ForegroundBox | None,
    options: ProcessingOptions,
    background: tuple[int, int, int] | None,
) -> Image.Image:
    """The cut-out as asked: the alpha alone (``channels=alpha``), cropped to the box with
    its margin (``crop``; an image without a subject is left whole), then scaled down to the
    size preset."""
    shaped = alpha if options.channels is Channels.ALPHA else image
    if options.crop and box is not None:
        fill: tuple[int, ...] | int
        if shaped.mode == "L":
            fill = 0
        elif shaped.mode == "RGBA":
            fill = (0, 0, 0, 0)
        else:
            fill = background or (0, 0, 0)
        shaped = _crop_with_margin(shaped, box, parse_margin(options.crop_margin, box), fill)
    target = fit_to_pixels(shaped.size, PRESET_PIXELS.get(options.size) if options.size else None)
    if target != shaped.size:
        shaped = shaped.resize(target, Image.Resampling.LANCZOS)
    return shaped


def is_shaped(options: ProcessingOptions) -> bool:
    """Whether the options change the cut-out's shape (and so its content key)."""
    return (
        bool(options.crop)
        or options.channels is Channels.ALPHA
        or (options.size is not None and options.size in PRESET_PIXELS)
    )


def shape_key(options: ProcessingOptions) -> str:
    """These options in a result's content key; empty when they shape nothing."""
    if not is_shaped(options):
        return ""
    parts = []
    if options.crop:
        parts.append("crop" + (options.crop_margin or "").replace(" ", "_").replace("%", "pc"))
    if options.channels is Channels.ALPHA:
        parts.append("alpha")
    if options.size is not None and options.size in PRESET_PIXELS:
        parts.append(f"px{PRESET_PIXELS[options.size]}")
    return "-".join(parts)
