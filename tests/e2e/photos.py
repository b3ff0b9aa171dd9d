"""Photos the end-to-end tests upload."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def fresh_photo() -> bytes:
    """A small photo with new bytes every time, so no earlier result can be reused."""
    rng = np.random.default_rng()
    pixels = rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
    pixels[24:72, 40:88] = (200, 40, 40)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()
