"""Halo figures: how much of the old background a cut-out's soft edges keep.

A photo ``F`` is blended with its own reference mask ``a`` over a saturated green ``G``
(``I = a F + (1 - a) G``); each system cuts out ``I``. In the cut-out's semi-transparent
band (0.1 < alpha < 0.9) the bench reports the mean absolute difference from ``F`` over the
three channels (grey levels, 0-255) and how much greener than ``F`` it is (mean of the green
channel's difference). A cut-out that keeps the green wall has a large positive figure.

Besides the flat wall, a second background is a textured one (a photo's brightness tinted
green, like foliage behind a portrait), where a local background estimate has to follow
the texture.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.peer_rembg import new_session, no_downloads, rembg_version

GREEN = np.array([0.0, 255.0, 0.0])
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
# The rembg session that preprocesses a custom model of each family as that family needs.
REMBG_SESSIONS = {"isnet": "dis_custom", "u2net": "u2net_custom"}


def photo(name: str) -> np.ndarray:
    from skimage import data

    pixels = np.asarray(getattr(data, name)(), dtype=np.uint8)
    return pixels


def green_texture(shape: tuple[int, ...]) -> np.ndarray:
    """A textured green background of ``shape`` (H x W x 3): scikit-image's
    immunohistochemistry photo, its brightness tinted green."""
    from skimage import data

    height, width = shape[:2]
    texture = Image.fromarray(data.immunohistochemistry()).resize((width, height))  # type: ignore[no-untyped-call]
    brightness = np.asarray(texture, dtype=np.float64).mean(axis=2, keepdims=True)
    tinted: np.ndarray = np.clip(brightness * np.array([0.45, 1.3, 0.45]), 0.0, 255.0)
    return tinted


BACKGROUNDS = {"flat green": lambda shape: GREEN, "green texture": green_texture}


def composite(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray = GREEN) -> np.ndarray:
    """``rgb`` blended with ``alpha`` (in [0, 1]) over ``background`` (a colour or an
    H x W x 3 array; the green wall by default), as uint8."""
    a = alpha[..., None]
    blend = a * rgb.astype(np.float64) + (1.0 - a) * background
    out: np.ndarray = np.rint(blend).astype(np.uint8)
    return out


@dataclass(frozen=True)
class HaloScore:
    rgb_error: float
    extra_green: float
    band_pixels: int


def score(cut: np.ndarray, truth: np.ndarray) -> HaloScore:
    """An RGBA cut-out against the true foreground colours."""
    alpha = cut[..., 3].astype(np.float64) / 255.0
    band = (alpha > 0.1) & (alpha < 0.9)
    got, want = cut[..., :3][band].astype(np.float64), truth[band].astype(np.float64)
    if not band.any():
        return HaloScore(0.0, 0.0, 0)
    return HaloScore(
        float(np.abs(got - want).mean()), float((got[:, 1] - want[:, 1]).mean()), int(band.sum())
    )


class RembgCutter:
    """rembg ``remove()`` on a registered model file, with no download possible."""

    def __init__(self, family: str, model_path: Path) -> None:
        self._rembg: Any = importlib.import_module("rembg")
        self.version = rembg_version()
        self._session = new_session(REMBG_SESSIONS[family], model_path)

    def cut(self, rgb: np.ndarray, *, decontaminate: bool) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        with no_downloads():
            out = self._rembg.remove(
                Image.fromarray(rgb), session=self._session, decontaminate=decontaminate
            )
        return np.asarray(out.convert("RGBA")), time.perf_counter() - started
