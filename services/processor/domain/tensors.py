"""The model's input and output as the model was trained: resize, normalise, min-max.

Pre-processing follows the DIS reference implementation of ISNet: a bilinear resize with
half-pixel centres and no anti-aliasing (what ``torch.nn.functional.interpolate(...,
mode="bilinear", align_corners=False)`` computes), then ``x = (pixel / 255 - mean) / std``
per channel, in NCHW layout. Post-processing min-max normalises the mask to [0, 1].

The worker resizes with OpenCV's ``INTER_LINEAR`` (the same half-pixel, no-antialias
bilinear) on the pixels in 16-bit fixed point, or on the uint8 pixels when reducing a
large photo, and normalises in one float32 pass;
``resize_bilinear`` is the same resize written out in numpy, kept as the reference the
fast path is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Inputs of up to this many times the model's pixels are resized on 16 bits, larger on 8.
WIDE_UP_TO = 4


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: input size (width, height) and per-channel normalisation.

    ``x = (pixel / scale - mean) / std`` where ``scale`` is 255, or, with
    ``divide_by_max``, the largest value of the resized image (as U²-Net was trained).
    """

    width: int
    height: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    divide_by_max: bool = False


def _source_positions(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and upper weight of each output pixel along one axis."""
    scale = in_size / out_size
    position = np.maximum((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    lower = np.minimum(position.astype(np.intp), in_size - 1)
    upper = np.minimum(lower + 1, in_size - 1)
    weight = (position - lower).astype(np.float32)
    return lower, upper, weight


def resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an ``H x W x C`` array to ``height x width x C`` float32, half-pixel bilinear.

    Only the rows and columns that contribute are gathered, so a 24-megapixel input needs
    a few output-sized buffers, never a float copy of the whole input.
    """
    if image.ndim != 3:
        raise ValueError(f"expected an H x W x C array, got shape {image.shape}")
    in_h, in_w = image.shape[:2]
    y0, y1, wy = _source_positions(in_h, height)
    x0, x1, wx = _source_positions(in_w, width)
    wx = wx[None, :, None]
    wy = wy[:, None, None]
    top_rows, bottom_rows = image[y0], image[y1]
    top = top_rows[:, x0].astype(np.float32) * (1.0 - wx) + top_rows[:, x1] * wx
    bottom = bottom_rows[:, x0].astype(np.float32) * (1.0 - wx) + bottom_rows[:, x1] * wx
    out: np.ndarray = top * (1.0 - wy) + bottom * wy
    return out


def to_model_input(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """An ``H x W x 3`` uint8 RGB image as the model's ``3 x h x w`` float32 input."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
    size = (spec.width, spec.height)
    if rgb.shape[0] * rgb.shape[1] > WIDE_UP_TO * spec.width * spec.height:
        # A large reduction: bilinear on the uint8 pixels (each output rounded to a whole
        # grey level), since widening a many-megapixel input would cost more than the resize.
        plane_scale = 1.0
        resized = cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_LINEAR)
    else:
        # 16-bit fixed point (pixel x 256): rounding to whole grey levels after enlarging a
        # small photo is enough to move a mask's edge; on 16 bits it is 1/256 of a level.
        plane_scale = 256.0
        resized = rgb.astype(np.uint16)
        np.left_shift(resized, 8, out=resized)
        if resized.shape[:2] != (spec.height, spec.width):
            resized = cv2.resize(resized, size, interpolation=cv2.INTER_LINEAR)
    # (pixel / 255 - mean) / std  ==  plane * scale - offset, channel by channel, in float32.
    peak = plane_scale * 255.0
    if spec.divide_by_max:
        peak = max(float(resized.max()), 1e-6 * plane_scale)
    std = np.asarray(spec.std, dtype=np.float32)
    scale = (1.0 / (peak * std)).astype(np.float32)
    offset = (np.asarray(spec.mean, dtype=np.float32) / std).astype(np.float32)
    out = np.empty((3, spec.height, spec.width), dtype=np.float32)
    for channel, plane in enumerate(cv2.split(resized)):
        np.multiply(plane, scale[channel], out=out[channel], dtype=np.float32)
        out[channel] -= offset[channel]
    return out


def to_model_input_reference(rgb: np.ndarray, spec: InputSpec) -> np.ndarray:
    """``to_model_input`` with the numpy resize: the reference the fast path is held to."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
    resized = resize_bilinear(rgb, spec.width, spec.height)
    resized /= max(float(resized.max()), 1e-6) if spec.divide_by_max else 255.0
    resized -= np.asarray(spec.mean, dtype=np.float32)
    resized /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(resized.transpose(2, 0, 1))


def stack_batch(inputs: list[np.ndarray]) -> np.ndarray:
    """``N`` model inputs as one ``N x 3 x h x w`` batch."""
    return np.stack(inputs, axis=0)


def normalise_mask(output: np.ndarray, *, sigmoid: bool = False) -> np.ndarray:
    """One image's model output (``1 x h x w`` or ``h x w``) as a uint8 mask, min-max;
    through a sigmoid first for a model whose output is logits.

    A constant output carries no information about the subject; it gives an empty mask.
    """
    mask = np.squeeze(np.asarray(output, dtype=np.float32))
    if mask.ndim != 2:
        raise ValueError(f"expected one single-channel mask, got shape {output.shape}")
    if sigmoid:
        mask = (1.0 / (1.0 + np.exp(-np.clip(mask, -60.0, 60.0)))).astype(np.float32)
    low, high = float(mask.min()), float(mask.max())
    if not np.isfinite(low) or not np.isfinite(high):
        raise ValueError("the model output contains NaN or infinity")
    if high <= low:
        return np.zeros(mask.shape, dtype=np.uint8)
    scaled = (mask - low) * (255.0 / (high - low))
    result: np.ndarray = np.rint(scaled).astype(np.uint8)
    return result
