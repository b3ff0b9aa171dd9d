"""The photos a bench sends, each time with fresh bytes.

A random 4x4 block in the top-left corner makes every upload's bytes new, so the
processor's index of results by content never answers and every image really runs
through the model.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image

JPEG_QUALITY = 90


@cache
def _skimage(name: str) -> np.ndarray:
    from skimage import data

    pixels: np.ndarray = getattr(data, name)()
    return pixels


def astronaut_512() -> np.ndarray:
    """scikit-image's astronaut: a 512x512 portrait."""
    return _skimage("astronaut")


@cache
def coffee_1024x768() -> np.ndarray:
    """scikit-image's coffee cup (600x400), cropped to 4:3 and scaled to 1024x768."""
    pixels = _skimage("coffee")
    height, width = pixels.shape[:2]
    crop = (height * 4) // 3
    left = (width - crop) // 2
    image = Image.fromarray(pixels[:, left : left + crop]).resize(
        (1024, 768), Image.Resampling.BICUBIC
    )
    return np.asarray(image)


def photos() -> dict[str, np.ndarray]:
    """The two photos of the pipeline benches, by size."""
    return {"512x512": astronaut_512(), "1024x768": coffee_1024x768()}


def freshen(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy with a random top-left 4x4 block."""
    out = pixels.copy()
    out[:4, :4] = rng.integers(0, 256, size=(4, 4, pixels.shape[2]), dtype=np.uint8)
    return out


def jpeg(pixels: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def fresh_jpeg(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    return jpeg(freshen(pixels, rng))


@cache
def photo_near_bytes(target: int) -> np.ndarray:
    """The coffee photo scaled so that its JPEG (quality 90) is within 3% of ``target``."""
    pixels = _skimage("coffee")
    width = 900
    for _ in range(12):
        height = (width * 3) // 4
        scaled = np.asarray(
            Image.fromarray(pixels).resize((width, height), Image.Resampling.BICUBIC)
        )
        size = len(jpeg(scaled))
        if abs(size - target) <= 0.03 * target:
            return scaled
        width = max(64, int(width * (target / size) ** 0.5))
    return scaled
