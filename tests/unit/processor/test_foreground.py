"""Foreground colour estimation: soft edges lose the colour of the old background."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from services.processor.domain import foreground
from services.processor.domain.compose import cutout
from services.processor.domain.foreground import estimate_foreground

GREEN = np.array([0, 255, 0], np.float64)


def _scene(height: int = 240, width: int = 320) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reddish subject with a soft (8 px) edge, photographed in front of a green wall:
    its true colours, the alpha, and the photo (the blend)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    subject = np.stack(
        [200 + 30 * np.sin(yy / 17), 60 + 20 * np.cos(xx / 23), 70 + 0 * xx], axis=-1
    )
    edge = width * 0.55 + 12 * np.sin(yy / 15)
    alpha = np.clip((edge - xx) / 8 + 0.5, 0, 1)
    photo = alpha[..., None] * subject + (1 - alpha[..., None]) * GREEN
    return (
        np.rint(subject).astype(np.uint8),
        np.rint(alpha * 255).astype(np.uint8),
        np.rint(photo).astype(np.uint8),
    )


def _band_errors(colours: np.ndarray, truth: np.ndarray, alpha: np.ndarray) -> tuple[float, float]:
    band = (alpha > 25) & (alpha < 230)
    got, want = colours[band].astype(np.float64), truth[band].astype(np.float64)
    return float(np.abs(got - want).mean()), float((got[:, 1] - want[:, 1]).mean())


def test_the_estimate_removes_the_green_fringe() -> None:
    truth, alpha, photo = _scene()
    naive_error, naive_green = _band_errors(photo, truth, alpha)
    error, green = _band_errors(estimate_foreground(photo, alpha), truth, alpha)
    assert naive_green > 60, "the test scene must have a fringe to remove"
    assert abs(green) < naive_green / 8, f"extra green {green:.1f} left (naive {naive_green:.1f})"
    assert error < naive_error / 8, f"band error {error:.1f} against {naive_error:.1f} without"


def test_only_semi_transparent_pixels_change() -> None:
    _truth, alpha, photo = _scene()
    estimated = estimate_foreground(photo, alpha)
    hard = (alpha == 0) | (alpha == 255)
    assert np.array_equal(estimated[hard], photo[hard])
    assert not np.array_equal(estimated[~hard], photo[~hard])


@pytest.mark.parametrize("in_tiles", [True, False], ids=["tiles", "bounding-box"])
def test_tiles_and_the_band_box_give_the_whole_image_result(
    monkeypatch: pytest.MonkeyPatch, in_tiles: bool
) -> None:
    _, alpha, photo = _scene(height=700)
    whole = np.rint(foreground.estimate_foreground_strip(photo, alpha) * 255).astype(np.int16)
    if in_tiles:
        monkeypatch.setattr(foreground, "TILE", 64)
        monkeypatch.setattr(foreground, "WHOLE_AREA", 0)
    worked: list[tuple[int, ...]] = []
    strip = foreground.estimate_foreground_strip

    def counted(rgb: np.ndarray, a: np.ndarray) -> np.ndarray:
        worked.append(rgb.shape)
        return strip(rgb, a)

    monkeypatch.setattr(foreground, "estimate_foreground_strip", counted)
    out = estimate_foreground(photo, alpha).astype(np.int16)
    soft = (alpha > 0) & (alpha < 255)
    assert np.abs(out[soft] - whole[soft]).max() <= 1
    if in_tiles:
        assert len(worked) > 1
    else:  # one piece: the soft band's columns and the filters' reach, not the whole photo
        assert len(worked) == 1 and worked[0][1] < photo.shape[1]


def test_an_image_without_soft_pixels_is_returned_as_it_is() -> None:
    _, _, photo = _scene()
    alpha = np.zeros(photo.shape[:2], np.uint8)
    alpha[:, :100] = 255
    assert np.array_equal(estimate_foreground(photo, alpha), photo)


def _tint(image: np.ndarray, band: np.ndarray) -> float:
    """How much greener than red the band is, on average."""
    return float((image[band][:, 1] - image[band][:, 0]).mean())


@pytest.mark.parametrize("background", ["transparent", "#ffffff"])
def test_cutouts_use_the_estimate_and_keep_the_alpha(background: str) -> None:
    truth, alpha, photo = _scene()
    rgb, mask = Image.fromarray(photo), Image.fromarray(alpha, mode="L")
    plain = np.asarray(cutout(rgb, mask, background)).astype(np.int16)
    estimated = np.asarray(cutout(rgb, mask, background, foreground_estimation=True))
    if background == "transparent":
        assert np.array_equal(estimated[..., 3], alpha), "the alpha is the mask, unchanged"
        _, green = _band_errors(estimated[..., :3], truth, alpha)
        _, naive_green = _band_errors(photo, truth, alpha)
        assert abs(green) < naive_green / 8
    else:
        band = (alpha > 25) & (alpha < 230)
        # On white, the naive edge is tinted green; the estimated one much less.
        assert _tint(estimated.astype(np.int16), band) < _tint(plain, band) - 30
