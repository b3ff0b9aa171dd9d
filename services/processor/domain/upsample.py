"""The model's mask at the photo's size: a plain bilinear stretch, or guided by the photo.

A 1024x1024 mask stretched onto a 24-megapixel photo has edges six pixels soft and blocky:
the model never saw finer detail. The guided filter (He, Sun and Tang, *Guided Image
Filtering*, 2013) fits, in every window, the mask as a linear function of the photo's
brightness, ``q = a I + b``; edges in the photo then carry the mask's edges at the photo's
resolution. The fit is computed at a reduced size and its coefficients are stretched
bilinearly (the fast guided filter of He and Sun, 2015), so the work at full size is two
resizes and a multiply-add per pixel.

Used only when the photo is larger than the mask by at least ``MIN_SCALE`` along a side;
smaller photos get the plain resize, so their masks are exactly the bilinear ones.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# Guided only for photos at least this many times larger than the mask along a side.
MIN_SCALE = 2.0
# The coefficients are fitted at this many pixels along the long side at most.
FIT_SIDE = 2048
# Window radius at the fitting size, and the regulariser (on [0, 1] brightness).
RADIUS = 8
EPSILON = 1e-4
# Rows of the full-size result made at a time (bounds the float buffers).
STRIP_ROWS = 256


def bilinear(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The uint8 mask resized to ``size`` (width, height) with Pillow's bilinear filter:
    the plain stretch the masks have always had."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask
    image = Image.fromarray(mask, mode="L").resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image)


def wants_guidance(mask_shape: tuple[int, ...], size: tuple[int, int]) -> bool:
    height, width = mask_shape[:2]
    return size[0] >= MIN_SCALE * width or size[1] >= MIN_SCALE * height


def _box(image: np.ndarray, radius: int) -> np.ndarray:
    side = 2 * radius + 1
    out: np.ndarray = cv2.blur(image, (side, side), borderType=cv2.BORDER_REFLECT)
    return out


def _brightness(rgb: np.ndarray) -> np.ndarray:
    grey: np.ndarray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return grey


def guided(mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The uint8 mask at the size of ``rgb`` (H x W x 3 uint8), guided by its brightness."""
    height, width = rgb.shape[:2]
    fit_scale = min(1.0, FIT_SIDE / max(width, height))
    fit_size = (max(1, round(width * fit_scale)), max(1, round(height * fit_scale)))
    grey = _brightness(rgb)
    guide = cv2.resize(grey, fit_size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    target = cv2.resize(mask, fit_size, interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    mean_i = _box(guide, RADIUS)
    mean_p = _box(target, RADIUS)
    cov_ip = _box(guide * target, RADIUS) - mean_i * mean_p
    var_i = _box(guide * guide, RADIUS) - mean_i * mean_i
    a = cov_ip / (var_i + EPSILON)
    b = mean_p - a * mean_i
    # Coefficients in grey levels of the full-size guide: q = a' * grey + b', on 0-255.
    mean_a = _box(a, RADIUS)
    mean_b = _box(b, RADIUS) * 255.0
    out = np.empty((height, width), np.uint8)
    for top in range(0, height, STRIP_ROWS):
        bottom = min(top + STRIP_ROWS, height)
        rows = grey[top:bottom].astype(np.float32)
        rows *= _stretch_rows(mean_a, (width, height), top, bottom)
        rows += _stretch_rows(mean_b, (width, height), top, bottom)
        rows += 0.5
        np.clip(rows, 0.0, 255.0, out=rows)
        out[top:bottom] = rows
    return out


def _stretch_rows(plane: np.ndarray, size: tuple[int, int], top: int, bottom: int) -> np.ndarray:
    """Rows ``top:bottom`` of ``plane`` resized to ``size`` (half-pixel bilinear), without
    making the whole full-size plane."""
    width, height = size
    scale_x, scale_y = plane.shape[1] / width, plane.shape[0] / height
    # Source position of each destination pixel: s = scale * (d + 0.5) - 0.5.
    inverse = np.array(
        [
            [scale_x, 0.0, 0.5 * scale_x - 0.5],
            [0.0, scale_y, scale_y * (top + 0.5) - 0.5],
        ],
        dtype=np.float64,
    )
    rows: np.ndarray = cv2.warpAffine(
        plane,
        inverse,
        (width, bottom - top),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return rows
