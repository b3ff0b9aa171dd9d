"""The quality bench's own measures: halo figures, the DIS5K layout, its tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.quality import halo, saliency
from bench.quality.run import DEFAULT_SYSTEM, ModelReport, markdown


def test_a_cutout_that_keeps_the_green_wall_scores_a_halo() -> None:
    truth = np.full((10, 10, 3), 100, np.uint8)
    alpha = np.full((10, 10), 0.5)
    blended = halo.composite(truth, alpha)
    kept = np.dstack([blended, np.full((10, 10), 128, np.uint8)])
    clean = np.dstack([truth, np.full((10, 10), 128, np.uint8)])
    fringe, none = halo.score(kept, truth), halo.score(clean, truth)
    assert fringe.band_pixels == 100 and fringe.extra_green == pytest.approx(77.5, abs=0.5)
    assert none.rgb_error == 0 and none.extra_green == 0


def test_pixels_outside_the_band_do_not_count() -> None:
    truth = np.zeros((4, 4, 3), np.uint8)
    cut = np.dstack([np.full((4, 4, 3), 255, np.uint8), np.full((4, 4), 255, np.uint8)])
    assert halo.score(cut, truth).band_pixels == 0


def test_the_synthetic_set_is_in_the_dis5k_layout(tmp_path: Path) -> None:
    folder = saliency.synthetic_set(tmp_path / "set", count=3)
    found = saliency.pairs(folder)
    assert [(i.parent.name, g.parent.name) for i, g in found] == [("im", "gt")] * 3
    with pytest.raises(ValueError, match="DIS5K"):
        saliency.pairs(tmp_path)


def test_the_tables_name_every_system_and_the_ratio() -> None:
    report = ModelReport(
        model="m",
        iou={name: 0.99 for name in halo.PHOTOS},
        halo={
            "flat green": {
                DEFAULT_SYSTEM: {"rgb_error": 9.0, "extra_green": 1.0},
                "rembg 2.0.86 remove(decontaminate=True)": {"rgb_error": 10.0, "extra_green": 2.0},
            }
        },
        edges=[{"method": "guided", "mean_abs_error": 1.0, "iou": 1.0, "seconds": 1.0}],
    )
    text = markdown([report], "a set")
    assert "| m | flat green | Clearcut (default: foreground estimation) | 9.0 | 1.0 |" in text
    assert "m, flat green: RGB error / rembg `decontaminate=True`'s = 0.900" in text
    assert "| m | guided | 1.00 | 1.0000 | 1.00 |" in text
    assert "no saliency table" in text


def test_the_textured_background_is_green_and_varies() -> None:
    background = halo.green_texture((40, 60, 3))
    assert background.shape == (40, 60, 3)
    assert (background[..., 1] >= background[..., 0]).all()
    assert background[..., 1].std() > 5.0
    blended = halo.composite(np.zeros((40, 60, 3), np.uint8), np.zeros((40, 60)), background)
    assert np.array_equal(blended, np.rint(background).astype(np.uint8))


def test_the_saliency_metrics_say_why_they_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name="sklearn")

    monkeypatch.setattr("bench.quality.saliency.importlib.import_module", missing)
    assert saliency.unavailable() == "sklearn is not installed"
