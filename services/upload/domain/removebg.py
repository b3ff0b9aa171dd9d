"""remove.bg's request parameters, as plain values: what the pipeline is asked for (the
upload options) and what the synchronous answer does with the cut-out afterwards.

The pipeline does what it also does for Clearcut's own API: the crop with its margin, the
alpha alone, the size preset. The answer adds what only remove.bg's protocol has: the
background colour with alpha, JPG and ZIP, the subject's scale and position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from PIL import ImageColor

from schemas import Channels, OutputFormat, ProcessingOptions, SizePreset
from services.upload.domain.errors import ErrorCode, Rejected, shown
from services.upload.domain.options import parse_crop_margin, parse_flag

# Every parameter of remove.bg's `POST /v1.0/removebg`; anything else is ignored, as there.
IMAGE_FIELDS = ("image_file", "image_file_b64", "image_url")
PARAMETERS = (
    "image_file_b64",
    "image_url",
    "size",
    "type",
    "type_level",
    "format",
    "roi",
    "crop",
    "crop_margin",
    "scale",
    "position",
    "channels",
    "add_shadow",
    "semitransparency",
    "bg_color",
    "bg_image_url",
    "bg_image_file",
)
TYPES = ("auto", "person", "product", "car", "animal", "graphic", "transportation")
# remove.bg's size names; `50mp` and `full` keep the original's size here.
SIZES = {
    "preview": SizePreset.PREVIEW,
    "small": SizePreset.SMALL,
    "regular": SizePreset.REGULAR,
    "medium": SizePreset.MEDIUM,
    "hd": SizePreset.HD,
    "full": SizePreset.FULL,
    "4k": SizePreset.FOUR_K,
    "50mp": SizePreset.FULL,
    "auto": SizePreset.AUTO,
}
DEFAULT_SIZE = "preview"
_PERCENT = re.compile(r"^([0-9]{1,3})%$")
_HEX = re.compile(r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_ROI_PART = re.compile(r"^([0-9]{1,5})(px|%)$")
_FULL_ROI = ("0%", "0%", "100%", "100%")


class AnswerFormat(StrEnum):
    AUTO = "auto"
    PNG = "png"
    JPG = "jpg"
    ZIP = "zip"


@dataclass(frozen=True)
class Placement:
    """The subject's share of the canvas (``scale``, 0.1-1, ``None`` for as it is) and its
    position (fractions 0-1 of the free room; ``None`` for where it is)."""

    scale: float | None
    position: tuple[float, float] | None


@dataclass(frozen=True)
class RemoveBgRequest:
    options: ProcessingOptions
    answer_format: AnswerFormat
    bg_color: tuple[int, int, int, int] | None
    placement: Placement
    foreground_type: str
    size: str
    # With a region of interest the pipeline is asked for the whole cut-out, and the answer
    # is cropped and sized after the region is applied (`shape`).
    roi: Roi | None = None
    shape: ProcessingOptions | None = None


def invalid(parameter: str, message: str) -> Rejected:
    return Rejected(ErrorCode.INVALID_OPTION, message, option=parameter)


def parse_bg_color(value: str | None) -> tuple[int, int, int, int] | None:
    """A hex colour (`81d4fa`, `fff`, with an optional alpha `81d4fa77`, `#` optional) or a
    CSS colour name (`green`)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    match = _HEX.match(text)
    try:
        if match is not None:
            digits = match[1]
            if len(digits) in (3, 4):
                digits = "".join(c * 2 for c in digits)
            if len(digits) == 6:
                digits += "ff"
            channels = [int(digits[i : i + 2], 16) for i in range(0, 8, 2)]
            return channels[0], channels[1], channels[2], channels[3]
        red, green, blue = ImageColor.getrgb(text.lower())[:3]
        return red, green, blue, 255
    except ValueError:
        raise invalid(
            "bg_color", f"bg_color {shown(value)} is not a hex colour like 81d4fa or a name"
        ) from None


def parse_percent(parameter: str, value: str, low: int = 0, high: int = 100) -> float:
    match = _PERCENT.match(value.strip())
    if match is None or not low <= int(match[1]) <= high:
        raise invalid(
            parameter, f"{parameter} {shown(value)} is not a value from {low}% to {high}%"
        )
    return int(match[1]) / 100


def parse_placement(scale: str | None, position: str | None) -> Placement:
    """`scale`: `original` (default) or 10%-100%; `position`: `original`, `center`, or one
    or two percentages (horizontal, vertical). A scale implies `center` unless a position is
    given."""
    factor = None
    if scale is not None and scale.strip() and scale.strip().lower() != "original":
        factor = parse_percent("scale", scale, 10, 100)
    text = (position or "").strip().lower()
    where: tuple[float, float] | None
    if not text:
        where = (0.5, 0.5) if factor is not None else None
    elif text == "original":
        where = None
    elif text == "center":
        where = (0.5, 0.5)
    else:
        parts = text.split()
        if len(parts) > 2:
            raise invalid("position", f"position {shown(position)} has more than two values")
        values = [parse_percent("position", part) for part in parts]
        where = (values[0], values[-1])
    return Placement(factor, where)


Roi = tuple[tuple[int, str], tuple[int, str], tuple[int, str], tuple[int, str]]


def parse_roi(value: str | None) -> Roi | None:
    """`x1 y1 x2 y2`, each in `px` or `%` of the image's width (x) or height (y); ``None``
    for the whole image (the default)."""
    if value is None or not value.strip():
        return None
    parts = value.split()
    matches = [_ROI_PART.match(p.strip().lower()) for p in parts]
    if len(parts) != 4 or any(m is None for m in matches):
        raise invalid("roi", f"roi {shown(value)} is not four values like '0% 0% 100% 100%'")
    if tuple(parts) == _FULL_ROI:
        return None
    sides = [(int(m[1]), m[2]) for m in matches if m is not None]
    if any(unit == "%" and number > 100 for number, unit in sides):
        raise invalid("roi", f"roi {shown(value)}: a percentage is at most 100%")
    return sides[0], sides[1], sides[2], sides[3]


def roi_pixels(roi: Roi, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region as left, top, right, bottom pixels of an image of ``size``."""
    extents = (size[0], size[1], size[0], size[1])
    left, top, right, bottom = (
        round(number * extent / 100) if unit == "%" else number
        for (number, unit), extent in zip(roi, extents, strict=True)
    )
    return left, top, right, bottom


def _choice(parameter: str, value: str | None, allowed: tuple[str, ...], default: str) -> str:
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text not in allowed:
        raise invalid(parameter, f"{parameter} {shown(value)} is not one of {', '.join(allowed)}")
    return text


def parse_request(fields: Mapping[str, str]) -> RemoveBgRequest:
    """The parameters of one request (form fields, JSON members or query parameters, all
    as text). Invalid values are refused; what remove.bg would ignore is ignored."""
    for unsupported in ("bg_image_url", "bg_image_file"):
        if fields.get(unsupported):
            raise invalid(
                unsupported,
                f"{unsupported} is not supported: ask for a transparent PNG and compose it",
            )
    size = _choice("size", fields.get("size"), tuple(SIZES), DEFAULT_SIZE)
    foreground_type = _choice("type", fields.get("type"), TYPES, "auto")
    _choice("type_level", fields.get("type_level"), ("none", "1", "2", "latest"), "1")
    answer = AnswerFormat(
        _choice("format", fields.get("format"), tuple(f.value for f in AnswerFormat), "auto")
    )
    channels = Channels(_choice("channels", fields.get("channels"), ("rgba", "alpha"), "rgba"))
    if channels is Channels.ALPHA and answer is AnswerFormat.ZIP:
        raise invalid("format", "format=zip holds colour and alpha; it needs channels=rgba")
    crop = parse_flag("crop", fields.get("crop")) or False
    for flag in ("add_shadow", "semitransparency"):
        parse_flag(flag, fields.get(flag))
    roi = parse_roi(fields.get("roi"))
    # As at remove.bg, a margin without crop does nothing.
    margin = parse_crop_margin(fields.get("crop_margin")) if crop else None
    options = ProcessingOptions(
        output_format=OutputFormat.PNG,
        background="transparent",
        crop=crop or None,
        crop_margin=margin,
        channels=Channels.ALPHA if channels is Channels.ALPHA else None,
        size=SIZES[size],
    )
    shape = None
    if roi is not None:
        shape, options = (
            options,
            options.model_copy(update={"crop": None, "crop_margin": None, "size": None}),
        )
    return RemoveBgRequest(
        roi=roi,
        shape=shape,
        options=options,
        answer_format=answer,
        bg_color=parse_bg_color(fields.get("bg_color")),
        placement=parse_placement(fields.get("scale"), fields.get("position")),
        foreground_type=foreground_type,
        size=size,
    )


def credits_charged(width: int, height: int) -> float:
    """remove.bg's count: a result of at most 0.25 megapixels (a preview) is a quarter of a
    credit, anything larger one credit."""
    return 0.25 if width * height <= 250_000 else 1.0
