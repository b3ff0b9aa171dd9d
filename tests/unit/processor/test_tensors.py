"""Pre- and post-processing maths: the resize the model was trained with, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import resize as skimage_resize

from services.processor.domain.tensors import (
    InputSpec,
    normalise_mask,
    resize_bilinear,
    stack_batch,
    to_model_input,
    to_model_input_reference,
)
from tests.unit.processor import samples


def _reference(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """scikit-image's bilinear resize (half-pixel centres, clamped edges), no anti-aliasing."""
    out: np.ndarray = skimage_resize(  # type: ignore[no-untyped-call]
        image.astype(np.float64), (height, width), order=1, anti_aliasing=False, mode="edge"
    )
    return out


ISNET = InputSpec(width=1024, height=1024, mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))


def test_resize_matches_an_independent_half_pixel_bilinear_without_antialiasing() -> None:
    photo = samples.photo("coffee")  # 600 x 400: scaled up in both axes, by different factors
    ours = resize_bilinear(photo, 1024, 1024)
    reference = _reference(photo, 1024, 1024)
    assert np.abs(ours - reference).max() < 1e-3


def test_downscale_samples_without_antialiasing() -> None:
    photo = samples.photo("astronaut")
    ours = resize_bilinear(photo, 100, 60)
    reference = _reference(photo, 100, 60)
    assert np.abs(ours - reference).max() < 1e-3


def test_known_values_of_a_two_by_one_upscale() -> None:
    image = np.array([[[0], [100]]], dtype=np.uint8)  # 1 x 2 x 1
    out = resize_bilinear(image, 4, 1)[0, :, 0]
    # Half-pixel centres: x_src = (x + 0.5) / 2 - 0.5 -> -0.25 (clamped), 0.25, 0.75, 1.25
    assert out.tolist() == pytest.approx([0.0, 25.0, 75.0, 100.0])


def test_same_size_is_identity() -> None:
    photo = samples.photo("coffee")
    assert np.array_equal(resize_bilinear(photo, 600, 400), photo.astype(np.float32))


def test_model_input_is_nchw_and_normalised() -> None:
    white = np.full((10, 20, 3), 255, np.uint8)
    black = np.zeros((10, 20, 3), np.uint8)
    assert to_model_input(white, ISNET).shape == (3, 1024, 1024)
    assert to_model_input(white, ISNET).dtype == np.float32
    assert np.allclose(to_model_input(white, ISNET), 0.5)
    assert np.allclose(to_model_input(black, ISNET), -0.5)
    other = InputSpec(width=4, height=2, mean=(0.0, 0.5, 1.0), std=(1.0, 0.5, 0.25))
    x = to_model_input(np.full((2, 4, 3), 51, np.uint8), other)
    assert x.shape == (3, 2, 4)
    assert x[:, 0, 0].tolist() == pytest.approx([0.2, -0.6, -3.2])


def test_channels_stay_in_rgb_order() -> None:
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    x = to_model_input(red, InputSpec(4, 4, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    assert np.allclose(x[0], 1.0) and np.allclose(x[1:], 0.0)


def test_batches_stack_on_the_first_axis() -> None:
    a, b = np.zeros((3, 2, 2), np.float32), np.ones((3, 2, 2), np.float32)
    batch = stack_batch([a, b])
    assert batch.shape == (2, 3, 2, 2) and batch[1].min() == 1.0


def test_mask_is_min_max_normalised() -> None:
    output = np.array([[[0.2, 0.6], [0.4, 1.0]]], dtype=np.float32)
    assert normalise_mask(output).tolist() == [[0, 128], [64, 255]]


def test_constant_mask_is_empty_and_broken_output_refused() -> None:
    assert normalise_mask(np.full((1, 3, 3), 0.7, np.float32)).max() == 0
    with pytest.raises(ValueError, match="NaN"):
        normalise_mask(np.array([[np.nan, 1.0], [0.0, 0.0]], dtype=np.float32))
    with pytest.raises(ValueError, match="single-channel"):
        normalise_mask(np.zeros((2, 3, 3), np.float32))


@pytest.mark.parametrize("size", [(1024, 1024), (300, 170), (1600, 900), (600, 400), (256, 256)])
def test_the_fast_model_input_stays_within_a_grey_level_of_the_reference(
    size: tuple[int, int],
) -> None:
    """OpenCV's fixed-point bilinear against the numpy reference, up and down, per pixel."""
    photo = samples.photo("coffee")
    if size == (256, 256):  # a large reduction (more than WIDE_UP_TO times the pixels)
        photo = np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1)
    spec = InputSpec(size[0], size[1], (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    fast, reference = to_model_input(photo, spec), to_model_input_reference(photo, spec)
    assert fast.shape == reference.shape == (3, size[1], size[0])
    # In pixel units: at most one grey level apart (the fixed-point weights and rounding).
    difference = np.abs(fast - reference) * np.asarray(spec.std, np.float32)[:, None, None] * 255
    assert float(difference.max()) <= 1.0
    assert float(difference.mean()) < 0.3


def test_a_family_that_divides_by_the_maximum_sees_a_dark_photo_as_a_bright_one() -> None:
    dark = np.full((8, 8, 3), 100, np.uint8)
    dark[0, 0] = 200
    by_max = InputSpec(8, 8, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), divide_by_max=True)
    by_255 = InputSpec(8, 8, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert to_model_input(dark, by_max).max() == pytest.approx(1.0, abs=1e-4)
    assert to_model_input(dark, by_255).max() == pytest.approx(200 / 255, abs=1e-4)
    assert np.allclose(
        to_model_input(dark, by_max), to_model_input_reference(dark, by_max), atol=1e-3
    )


def test_logits_go_through_a_sigmoid_before_min_max() -> None:
    logits = np.array([[-20.0, 0.0], [20.0, 40.0]], np.float32)
    plain = normalise_mask(logits)
    squashed = normalise_mask(logits, sigmoid=True)
    assert plain.tolist() == [[0, 85], [170, 255]]
    assert squashed.tolist() == [[0, 128], [255, 255]]
