"""From the bytes of an upload to an upright 8-bit RGB image and the alpha it came with.

The rules, each chosen so that no input silently goes wrong:

- EXIF orientation is applied, so results have the size the upload reported.
- An animated image (GIF, APNG, WebP) uses its first frame.
- 16-bit and 32-bit greyscale is *scaled* to 8 bits (65535 -> 255), never clipped to white;
  float images in [0, 1] are scaled by 255, other float ranges are stretched to [0, 255].
- CMYK is converted through its embedded ICC profile to sRGB when it has one, otherwise
  by the plain formula; palette, greyscale, bilevel and other modes become RGB.
- An alpha channel (RGBA, LA, a palette with a transparent index) is kept beside the RGB so
  that a transparent input pixel stays transparent in the cut-out.
- An RGB image's ICC profile is kept, to be embedded in the results.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from schemas.values import FailureReason
from services.processor.domain.errors import ProcessingError

# Modes whose ICC profile describes RGB colours, so it still applies to the results.
_RGB_PROFILE_MODES = {"RGB", "RGBA", "RGBa", "P", "PA"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


@dataclass(frozen=True)
class DecodedImage:
    """An upright image ready for the model: ``rgb`` in mode RGB, ``alpha`` in mode L."""

    rgb: Image.Image
    alpha: Image.Image | None
    icc_profile: bytes | None
    source_mode: str
    source_format: str | None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.size


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode ``data``; raise ``ProcessingError`` (undecodable or unsupported) when it fails."""
    if not data:
        raise ProcessingError(FailureReason.IMAGE_UNDECODABLE, "the original is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ProcessingError(
                    FailureReason.IMAGE_UNSUPPORTED,
                    f"the image has {width}x{height} pixels, more than the limit of {max_pixels}",
                )
            image.seek(0)  # the first frame of an animation
            image.load()
    except ProcessingError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProcessingError(FailureReason.IMAGE_UNSUPPORTED, f"image too large: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ProcessingError(
            FailureReason.IMAGE_UNDECODABLE, f"the original cannot be decoded as an image: {exc}"
        ) from None
    source_mode, source_format = image.mode, image.format
    icc = image.info.get("icc_profile") or None
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        upright = image
    rgb, alpha = split_alpha(to_rgb_family(upright, icc))
    return DecodedImage(
        rgb=rgb,
        alpha=alpha,
        icc_profile=icc if source_mode in _RGB_PROFILE_MODES and isinstance(icc, bytes) else None,
        source_mode=source_mode,
        source_format=source_format,
    )


def to_rgb_family(image: Image.Image, icc: object = None) -> Image.Image:
    """The image as RGB, or RGBA when it carries transparency. 8 bits per channel."""
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in ("RGBa", "La", "LA", "PA"):
        return image.convert("RGBA")
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode == "L" and "transparency" in image.info:
        return image.convert("RGBA")
    if mode in ("L", "1"):
        return image.convert("RGB")
    if mode in _SIXTEEN_BIT or mode == "I":
        return Image.fromarray(scale_integer_grey(np.asarray(image))).convert("RGB")
    if mode == "F":
        return Image.fromarray(scale_float_grey(np.asarray(image))).convert("RGB")
    if mode == "CMYK":
        return cmyk_to_rgb(image, icc)
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ProcessingError(
            FailureReason.IMAGE_UNSUPPORTED, f"images of mode {mode} are not supported: {exc}"
        ) from None


def scale_integer_grey(values: np.ndarray) -> np.ndarray:
    """16-bit (or wider) greyscale to 8 bits by scaling, rounding to nearest.

    Values that fit 16 bits are read as 16-bit data (0..65535) -- except a 32-bit image whose
    values all fit 8 bits, which is 8-bit data in a wide container. Anything else (negative
    or beyond 16 bits) is stretched from its own minimum and maximum.
    """
    data = values.astype(np.int64, copy=False)
    low, high = int(data.min()), int(data.max())
    if values.dtype == np.uint16 or (low >= 0 and 255 < high <= 65535):
        return ((data * 255 + 32767) // 65535).astype(np.uint8)
    if low >= 0 and high <= 255:
        return data.astype(np.uint8)
    return _stretch(data.astype(np.float64), low, high)


def scale_float_grey(values: np.ndarray) -> np.ndarray:
    """Float greyscale: [0, 1] is scaled by 255; any other range is stretched."""
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(data.min()), float(data.max())
    if low >= 0.0 and high <= 1.0:
        return np.rint(data * 255.0).astype(np.uint8)
    return _stretch(data, low, high)


def _stretch(data: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(data.shape, dtype=np.uint8)
    return np.rint((data - low) * (255.0 / (high - low))).astype(np.uint8)


def cmyk_to_rgb(image: Image.Image, icc: object) -> Image.Image:
    """Through the embedded ICC profile to sRGB when there is one, else by formula."""
    if isinstance(icc, bytes) and icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile: fall back to the formula below
    return image.convert("RGB")


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """RGB and the alpha channel; an alpha that is opaque everywhere is dropped."""
    if image.mode != "RGBA":
        return image, None
    alpha = image.getchannel("A")
    low, _ = alpha.getextrema()
    rgb = image.convert("RGB")
    return rgb, (None if low == 255 else alpha)
