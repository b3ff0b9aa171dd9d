"""The mask at the photo's size: guided upsampling against the plain stretch."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.quality.edges import compare
from services.processor.domain.compose import full_size_alpha
from services.processor.domain.finish import MaskUpsampling
from services.processor.domain.upsample import bilinear, wants_guidance


def test_guided_upsampling_beats_the_stretch_on_a_known_edge_at_24_megapixels() -> None:
    stretch, sharp = compare(6000, 4000)
    assert (stretch.method, sharp.method) == ("bilinear", "guided")
    assert sharp.mean_abs_error < 0.6 * stretch.mean_abs_error, (stretch, sharp)
    assert sharp.iou > stretch.iou, (stretch, sharp)


def test_small_photos_keep_the_plain_stretch() -> None:
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 256, size=(1024, 1024), dtype=np.uint8)
    photo = Image.fromarray(rng.integers(0, 256, size=(1500, 1800, 3), dtype=np.uint8))
    assert not wants_guidance(mask.shape, photo.size)
    guided = np.asarray(full_size_alpha(mask, photo, None, MaskUpsampling.GUIDED))
    assert np.array_equal(guided, bilinear(mask, photo.size))


def test_large_photos_are_guided_only_when_asked() -> None:
    rng = np.random.default_rng(4)
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 255
    photo = Image.fromarray(rng.integers(0, 256, size=(256, 300, 3), dtype=np.uint8))
    assert wants_guidance(mask.shape, photo.size)
    plain = np.asarray(full_size_alpha(mask, photo, None, MaskUpsampling.BILINEAR))
    guided = np.asarray(full_size_alpha(mask, photo, None, MaskUpsampling.GUIDED))
    assert np.array_equal(plain, bilinear(mask, photo.size))
    assert guided.shape == plain.shape and not np.array_equal(guided, plain)
