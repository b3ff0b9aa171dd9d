"""The blocking image stages of a task, composed from the pure core; run on the CPU pool.

Each function measures its own stages into the task's ``StageTimes`` (safe from a worker
thread: one task is only ever worked on by one thread at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from schemas.values import ForegroundBox, OutputFormat, ProcessingOptions
from services.common.shaping import foreground_box, shape_cutout
from services.processor.domain.compose import (
    EncodedResult,
    check_encodable,
    cutout,
    encode_cutout,
    encode_mask,
    full_size_alpha,
    parse_background,
)
from services.processor.domain.decoding import DecodedImage, decode_image
from services.processor.domain.finish import FinishOptions
from services.processor.domain.tensors import normalise_mask
from services.processor.domain.timing import Stage, StageTimes


@dataclass(frozen=True)
class EncodeOptions:
    output_format: OutputFormat
    background: str
    png_level: int
    webp_quality: int


def decode_and_preprocess(
    data: bytes,
    prepare: Callable[[np.ndarray], np.ndarray],
    output_format: OutputFormat,
    *,
    max_pixels: int,
    stages: StageTimes,
) -> tuple[DecodedImage, np.ndarray]:
    with stages.measure(Stage.DECODE):
        decoded = decode_image(data, max_pixels=max_pixels)
        check_encodable(output_format, decoded.size)
    with stages.measure(Stage.PREPROCESS):
        model_input = prepare(np.asarray(decoded.rgb))
    return decoded, model_input


def postprocess(
    output: np.ndarray,
    decoded: DecodedImage,
    options: FinishOptions,
    *,
    sigmoid: bool = False,
    stages: StageTimes,
    requested: ProcessingOptions | None = None,
) -> tuple[Image.Image, Image.Image, ForegroundBox | None]:
    """The full-size alpha, the cut-out (RGBA, or RGB on a background colour, shaped as
    ``requested``: crop, alpha alone, size preset) and the subject's box in the alpha."""
    with stages.measure(Stage.POSTPROCESS):
        mask = normalise_mask(output, sigmoid=sigmoid)
        alpha = full_size_alpha(mask, decoded.rgb, decoded.alpha, options.upsampling)
        box = foreground_box(np.asarray(alpha))
        image = cutout(
            decoded.rgb,
            alpha,
            options.background,
            foreground_estimation=options.foreground_estimation,
        )
        if requested is not None:
            image = shape_cutout(image, alpha, box, requested, parse_background(options.background))
        return alpha, image, box


def encode_cutout_result(
    image: Image.Image, options: EncodeOptions, icc_profile: bytes | None
) -> EncodedResult:
    return encode_cutout(
        image,
        options.output_format,
        png_level=options.png_level,
        webp_quality=options.webp_quality,
        icc_profile=icc_profile,
    )


def encode_mask_result(alpha: Image.Image, options: EncodeOptions) -> EncodedResult:
    return encode_mask(alpha, png_level=options.png_level)
