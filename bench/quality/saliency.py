"""Standard saliency metrics over a folder in the DIS5K layout (``im/``, ``gt/``), computed
with ``pysodmetrics``; and a small synthetic set in that layout for when none is given."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def unavailable() -> str | None:
    """Why the metrics cannot be computed here (``pysodmetrics`` or one of its imports is
    missing), or ``None`` when they can."""
    try:
        importlib.import_module("py_sod_metrics")
    except ImportError as error:
        return f"{error.name or 'pysodmetrics'} is not installed"
    return None


def pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(image, ground truth) pairs: each image in ``im/`` with a mask of its stem in ``gt/``."""
    images, truths = folder / "im", folder / "gt"
    if not images.is_dir() or not truths.is_dir():
        raise ValueError(f"{folder} has no im/ and gt/ folders (the DIS5K layout)")
    masks = {p.stem: p for p in truths.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    found = [
        (p, masks[p.stem])
        for p in sorted(images.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in masks
    ]
    if not found:
        raise ValueError(f"{folder}: no image in im/ has a mask of the same name in gt/")
    return found


def synthetic_set(folder: Path, count: int = 6, seed: int = 11) -> Path:
    """``count`` photos of textured shapes on textured backgrounds, with exact masks."""
    rng = np.random.default_rng(seed)
    (folder / "im").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        height, width = 480, 640
        mask = np.zeros((height, width), np.uint8)
        centre = (int(rng.integers(220, 420)), int(rng.integers(160, 320)))
        axes = (int(rng.integers(90, 200)), int(rng.integers(80, 150)))
        cv2.ellipse(mask, centre, axes, float(rng.integers(0, 180)), 0, 360, 255, -1)
        if index % 2:
            top = (centre[0] - 30, max(0, centre[1] - axes[1] - 80))
            cv2.rectangle(mask, top, (centre[0] + 30, centre[1]), 255, -1)
        noise = rng.integers(0, 60, size=(height // 16, width // 16, 3), dtype=np.uint8)
        texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        subject = rng.integers(120, 200, size=3).astype(np.uint8)
        backdrop = rng.integers(20, 90, size=3).astype(np.uint8)
        rgb = np.where(mask[..., None] > 0, subject, backdrop) + texture
        Image.fromarray(rgb.astype(np.uint8)).save(folder / "im" / f"shape-{index}.jpg", quality=92)
        Image.fromarray(mask).save(folder / "gt" / f"shape-{index}.png")
    return folder


def metrics(folder: Path, predict: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """S-measure, max F, weighted F, MAE and mean E-measure of ``predict`` (RGB -> uint8 mask)."""
    sod: Any = importlib.import_module("py_sod_metrics")
    measures = {
        "sm": sod.Smeasure(),
        "fm": sod.Fmeasure(),
        "wfm": sod.WeightedFmeasure(),
        "mae": sod.MAE(),
        "em": sod.Emeasure(),
    }
    for image_path, truth_path in pairs(folder):
        rgb = np.asarray(Image.open(image_path).convert("RGB"))
        truth = np.asarray(Image.open(truth_path).convert("L"))
        mask = predict(rgb)
        for measure in measures.values():
            measure.step(pred=mask, gt=truth)
    return {
        "S-measure": float(measures["sm"].get_results()["sm"]),
        "max F": float(measures["fm"].get_results()["fm"]["curve"].max()),
        "weighted F": float(measures["wfm"].get_results()["wfm"]),
        "MAE": float(measures["mae"].get_results()["mae"]),
        "mean E-measure": float(measures["em"].get_results()["em"]["curve"].mean()),
        "images": float(len(pairs(folder))),
    }
