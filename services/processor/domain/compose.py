"""From the model's mask to the results: the alpha at full size, the cut-out, the encodings.

The alpha is the model's mask at the photo's size (bilinear, or guided by the photo for
large ones: ``upsample``); the cut-out's colours are the photo's with the subject's own
colour estimated in the semi-transparent band (``foreground``), unless that is turned off.
Compositing and encoding stay in Pillow's C code and the processor's PNG encoder.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops

from schemas.values import FailureReason, OutputFormat
from services.processor.domain.errors import ProcessingError
from services.processor.domain.finish import MaskUpsampling
from services.processor.domain.foreground import estimate_foreground_in_place
from services.processor.domain.png import encode_png
from services.processor.domain.upsample import bilinear, guided, wants_guidance

TRANSPARENT = "transparent"
# WebP stores sizes in 14 bits.
WEBP_MAX_SIDE = 16383


@dataclass(frozen=True)
class EncodedResult:
    data: bytes
    content_type: str
    width: int
    height: int


def full_size_alpha(
    mask: np.ndarray,
    rgb: Image.Image,
    source_alpha: Image.Image | None,
    upsampling: MaskUpsampling = MaskUpsampling.BILINEAR,
) -> Image.Image:
    """The model's uint8 mask at the size of ``rgb``, combined with the input's alpha.

    Bilinear, or guided by the photo when ``upsampling`` says so and the photo is large
    enough (``upsample.wants_guidance``). The input's own alpha multiplies the mask, so a
    pixel that was transparent in the input is transparent in the output: the model can
    only remove, never add, coverage.
    """
    if upsampling is MaskUpsampling.GUIDED and wants_guidance(mask.shape, rgb.size):
        alpha = Image.fromarray(guided(mask, np.asarray(rgb)), mode="L")
    else:
        alpha = Image.fromarray(bilinear(mask, rgb.size), mode="L")
    if source_alpha is not None:
        alpha = ImageChops.multiply(alpha, source_alpha)
    return alpha


def parse_background(background: str) -> tuple[int, int, int] | None:
    """``None`` for transparent, else the ``#rrggbb`` colour as a tuple."""
    if background == TRANSPARENT:
        return None
    if len(background) != 7 or not background.startswith("#"):
        raise ValueError(f"background {background!r} is neither transparent nor #rrggbb")
    value = int(background[1:], 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def cutout(
    rgb: Image.Image, alpha: Image.Image, background: str, *, foreground_estimation: bool = False
) -> Image.Image:
    """RGBA with the mask as alpha, or RGB flattened onto a solid background colour.

    With ``foreground_estimation`` the colours of semi-transparent pixels are the subject's
    estimated own colours instead of the photo's (which hold the old background).
    """
    colour = parse_background(background)
    if foreground_estimation:
        colours = np.array(rgb)
        estimate_foreground_in_place(colours, np.asarray(alpha))
        rgb = Image.fromarray(colours, mode="RGB")
        del colours
    if colour is None:
        rgba = rgb.convert("RGBA")
        rgba.putalpha(alpha)
        return rgba
    return Image.composite(rgb, Image.new("RGB", rgb.size, colour), alpha)


def check_encodable(output_format: OutputFormat, size: tuple[int, int]) -> None:
    """Refuse early, before any work, what the chosen format cannot hold."""
    if output_format is OutputFormat.WEBP and max(size) > WEBP_MAX_SIDE:
        raise ProcessingError(
            FailureReason.IMAGE_UNSUPPORTED,
            f"a WebP cut-out can be at most {WEBP_MAX_SIDE} pixels per side; the image is "
            f"{size[0]}x{size[1]}: ask for png",
        )


def encode_cutout(
    image: Image.Image,
    output_format: OutputFormat,
    *,
    png_level: int,
    webp_quality: int,
    icc_profile: bytes | None,
) -> EncodedResult:
    if output_format is OutputFormat.PNG:
        data = encode_png(image, level=png_level, icc_profile=icc_profile)
        return EncodedResult(data, "image/png", image.width, image.height)
    buffer = io.BytesIO()
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    image.save(buffer, "WEBP", quality=webp_quality, method=4, **extra)
    return EncodedResult(buffer.getvalue(), "image/webp", image.width, image.height)


def encode_mask(alpha: Image.Image, *, png_level: int) -> EncodedResult:
    """The alpha as an 8-bit greyscale PNG."""
    return EncodedResult(encode_png(alpha, level=png_level), "image/png", alpha.width, alpha.height)
