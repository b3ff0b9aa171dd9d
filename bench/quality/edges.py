"""Edge accuracy of the mask at a photo's full size, on a synthetic scene with a known edge.

The scene is a textured subject with a wavy, perfectly sharp outline on a darker textured
background, at any size (24 megapixels: 6000x4000). A perfect model's output is the true
mask reduced to the model's resolution (area average); it is brought back to full size by
the plain bilinear stretch and by the guided upsampling, and each is compared with the true
mask near the edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from services.processor.domain.upsample import bilinear, guided

# Pixels within this distance of the true edge make up the edge band.
BAND_PX = 12


@dataclass(frozen=True)
class EdgeScene:
    rgb: np.ndarray  # H x W x 3 uint8
    truth: np.ndarray  # H x W uint8, 0 or 255


def scene(width: int = 6000, height: int = 4000, seed: int = 7) -> EdgeScene:
    """The known-edge scene at ``width`` x ``height``."""
    rng = np.random.default_rng(seed)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    cx, cy, radius = width / 2, height / 2, min(width, height) * 0.32
    angle = np.arctan2(ys - cy, xs - cx)
    wobble = radius * (1 + 0.12 * np.sin(7 * angle) + 0.05 * np.sin(23 * angle))
    inside = np.hypot(xs - cx, ys - cy) < wobble
    truth = np.where(inside, 255, 0).astype(np.uint8)
    # Low-frequency texture, so brightness varies inside each region as in a photo.
    small = rng.integers(0, 40, size=(height // 50 + 2, width // 50 + 2, 3), dtype=np.uint8)
    texture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    subject = np.array([200, 150, 120], np.uint8)
    backdrop = np.array([40, 70, 90], np.uint8)
    rgb = np.where(inside[..., None], subject, backdrop) + texture
    return EdgeScene(rgb=rgb.astype(np.uint8), truth=truth)


def perfect_model_mask(truth: np.ndarray, side: int = 1024) -> np.ndarray:
    """The true mask as a model of ``side`` x ``side`` would see it at best."""
    out: np.ndarray = cv2.resize(truth, (side, side), interpolation=cv2.INTER_AREA)
    return out


def edge_band(truth: np.ndarray, px: int = BAND_PX) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    grown = cv2.dilate(truth, kernel)
    shrunk = cv2.erode(truth, kernel)
    band: np.ndarray = grown != shrunk
    return band


@dataclass(frozen=True)
class EdgeScore:
    method: str
    mean_abs_error: float  # grey levels, in the edge band
    iou: float  # of the masks thresholded at 128, in the edge band
    seconds: float


def score(
    method: str, mask: np.ndarray, truth: np.ndarray, band: np.ndarray, seconds: float
) -> EdgeScore:
    got, want = mask[band].astype(np.int16), truth[band].astype(np.int16)
    hard, true = got >= 128, want >= 128
    union = np.logical_or(hard, true).sum()
    iou = float(np.logical_and(hard, true).sum() / union) if union else 1.0
    return EdgeScore(method, float(np.abs(got - want).mean()), iou, seconds)


def compare(width: int = 6000, height: int = 4000, side: int = 1024) -> list[EdgeScore]:
    """Bilinear stretch and guided upsampling of a perfect 1024x1024 mask, scored at full size."""
    known = scene(width, height)
    low = perfect_model_mask(known.truth, side)
    band = edge_band(known.truth)
    started = time.perf_counter()
    stretched = bilinear(low, (width, height))
    stretch_s = time.perf_counter() - started
    started = time.perf_counter()
    sharpened = guided(low, known.rgb)
    guided_s = time.perf_counter() - started
    return [
        score("bilinear", stretched, known.truth, band, stretch_s),
        score("guided", sharpened, known.truth, band, guided_s),
    ]
