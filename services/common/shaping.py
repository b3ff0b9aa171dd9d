"""What the upload asked of the cut-out's shape: the subject's box, the crop to it with a
margin, the alpha alone, a size preset. The mask is never shaped: it stays the model's
mask at the oriented original's size, so the same photo gives the same mask whatever the
options.

Pure functions over Pillow images, shared by the processor (which shapes every cut-out)
and the upload API (whose remove.bg answer shapes it after a region of interest)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from schemas.values import Channels, ForegroundBox, ProcessingOptions, crop_margin_pixels

# A pixel belongs to the subject when its mask value is at least half opaque.
FOREGROUND_THRESHOLD = 128


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


def fit_to_pixels(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """``size`` scaled down, keeping its aspect ratio, to at most ``max_pixels``."""
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return size
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * factor)), max(1, math.floor(height * factor))


def crop_region(box: ForegroundBox, margin: str | None) -> tuple[int, int, int, int]:
    """Left, top, right, bottom of the box plus its margin (may reach beyond the image)."""
    top, right, bottom, left = crop_margin_pixels(margin, box)
    return (
        box.left - left,
        box.top - top,
        box.left + box.width + right,
        box.top + box.height + bottom,
    )


def _crop_with_margin(
    image: Image.Image, box: ForegroundBox, margin: str | None, fill: tuple[int, ...] | int
) -> Image.Image:
    """The box plus the margin; what lies beyond the image is ``fill`` (transparent, or the
    background colour)."""
    left, top, right, bottom = crop_region(box, margin)
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
        shaped = _crop_with_margin(shaped, box, options.crop_margin, fill)
    target = fit_to_pixels(shaped.size, options.size.max_pixels if options.size else None)
    if target != shaped.size:
        shaped = shaped.resize(target, Image.Resampling.LANCZOS)
    return shaped


def is_shaped(options: ProcessingOptions) -> bool:
    """Whether the options change the cut-out's shape (and so its content key)."""
    return (
        bool(options.crop)
        or options.channels is Channels.ALPHA
        or (options.size is not None and options.size.max_pixels is not None)
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
    if options.size is not None and options.size.max_pixels is not None:
        parts.append(f"px{options.size.max_pixels}")
    return "-".join(parts)
