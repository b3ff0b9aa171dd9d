"""The processing options a client may ask for, parsed into the contract's form."""

from __future__ import annotations

import re
from collections.abc import Collection
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from schemas import Channels, OutputFormat, ProcessingOptions, SizePreset
from schemas.values import CallbackUrl
from services.upload.domain.errors import ErrorCode, Rejected, shown

_HEX6 = re.compile(r"^#[0-9a-fA-F]{6}$")
_HEX3 = re.compile(r"^#[0-9a-fA-F]{3}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TRANSPARENT = "transparent"
E = TypeVar("E", bound=StrEnum)


def parse_background(value: str | None) -> str:
    """`transparent` (the default), or a colour `#rgb`/`#rrggbb` as lowercase `#rrggbb`."""
    if value is None or value.strip().lower() in ("", TRANSPARENT):
        return TRANSPARENT
    text = value.strip()
    if _HEX6.match(text):
        return text.lower()
    if _HEX3.match(text):
        return "#" + "".join(c * 2 for c in text[1:].lower())
    raise Rejected(
        ErrorCode.INVALID_OPTION,
        f"background {shown(value)} is not 'transparent' or a colour like '#ffffff' or '#fff'",
        option="background",
    )


def parse_output_format(value: str | None) -> OutputFormat:
    return _member("output_format", value, OutputFormat) or OutputFormat.PNG


def parse_model(value: str | None, known: Collection[str] | None = None) -> str | None:
    """The model name, or ``None`` for the default; with ``known``, a name outside it is
    refused, naming the known ones."""
    if value is None or not value.strip():
        return None
    name = value.strip()
    if not _MODEL.match(name):
        raise Rejected(
            ErrorCode.INVALID_OPTION,
            f"model {shown(value)} is not a model name (1-128 letters, digits, '.', '_', '-')",
            option="model",
        )
    if known is not None and name not in known:
        listed = ", ".join(known)
        raise Rejected(
            ErrorCode.INVALID_OPTION,
            f"model {name!r} is not a known model; choose one of: {listed} "
            "(or leave it out for the default)",
            option="model",
            known=listed,
        )
    return name


MAX_CALLBACK_URL = 2048
_CALLBACK_CONTRACT: TypeAdapter[str] = TypeAdapter(CallbackUrl)


def parse_callback_url(value: str | None) -> str | None:
    """An absolute `https://` (or `http://`) URL without credentials or fragment, at most
    2048 characters; absent means none. Whether its host may be reached is decided when the
    webhook is sent (private and loopback addresses are refused there)."""
    if value is None or not value.strip():
        return None
    text = value.strip()

    def refuse(why: str) -> Rejected:
        return Rejected(
            ErrorCode.INVALID_OPTION,
            f"callback_url {shown(value)} {why}",
            option="callback_url",
        )

    if len(text) > MAX_CALLBACK_URL:
        raise refuse(f"is longer than {MAX_CALLBACK_URL} characters")
    if any(c.isspace() or ord(c) < 33 or ord(c) > 126 for c in text):
        raise refuse("must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise refuse("is not a valid URL") from None
    if parts.scheme.lower() not in ("https", "http"):
        raise refuse("must be an absolute https:// URL")
    if not parts.hostname:
        raise refuse("names no host")
    if parts.username is not None or parts.password is not None:
        raise refuse("must not carry a user name or password")
    if parts.fragment or text.endswith("#"):
        raise refuse("must not have a #fragment")
    if port == 0:
        raise refuse("names port 0")
    text = parts.scheme.lower() + text[len(parts.scheme) :]
    try:
        return _CALLBACK_CONTRACT.validate_python(text)
    except ValidationError:
        raise refuse("is not a URL the event contract accepts") from None


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_foreground_estimation(value: str | None) -> bool | None:
    """`true`/`false` (also 1/0, yes/no, on/off); absent means the processor's setting."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Rejected(
        ErrorCode.INVALID_OPTION,
        f"foreground_estimation {value!r} is not true or false",
        option="foreground_estimation",
    )


def parse_flag(name: str, value: str | None) -> bool | None:
    """`true`/`false` (also 1/0, yes/no, on/off); ``None`` when absent."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Rejected(
        ErrorCode.INVALID_OPTION, f"{name} {shown(value)} is not true or false", option=name
    )


MAX_MARGIN_PX = 500
MAX_MARGIN_PERCENT = 50
_MARGIN_PART = re.compile(r"^([0-9]{1,4})(px|%)?$")


def parse_crop_margin(value: str | None) -> str | None:
    """A CSS-like margin of 1 to 4 values (`30px`, `10%`, `10px 20px`, ...; a bare number
    is pixels), each at most 500 px or 50 %, as the contract's four values `T R B L`;
    ``None`` when absent or all zero."""
    if value is None or not value.strip():
        return None
    parts = value.replace(",", " ").split()
    sides: list[str] = []
    for part in parts:
        match = _MARGIN_PART.match(part.strip().lower())
        if match is None or len(parts) > 4:
            raise Rejected(
                ErrorCode.INVALID_OPTION,
                f"crop_margin {shown(value)} is not 1 to 4 values like '30px' or '10%'",
                option="crop_margin",
            )
        number, unit = int(match[1]), match[2] or "px"
        limit = MAX_MARGIN_PX if unit == "px" else MAX_MARGIN_PERCENT
        if number > limit:
            raise Rejected(
                ErrorCode.INVALID_OPTION,
                f"crop_margin {shown(value)}: each side is at most {MAX_MARGIN_PX}px or "
                f"{MAX_MARGIN_PERCENT}%",
                option="crop_margin",
            )
        sides.append(f"{number}{unit}")
    top = sides[0]
    right = sides[1] if len(sides) > 1 else top
    bottom = sides[2] if len(sides) > 2 else top
    left = sides[3] if len(sides) > 3 else right
    four = [top, right, bottom, left]
    if all(side.rstrip("px%") == "0" for side in four):
        return None
    return " ".join(four)


def _member(name: str, value: str | None, kind: type[E]) -> E | None:
    """The enum member named by ``value`` (any case); ``None`` when absent."""
    if value is None or not value.strip():
        return None
    try:
        return kind(value.strip().lower())
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise Rejected(
            ErrorCode.INVALID_OPTION,
            f"{name} {shown(value)} is not one of {allowed}",
            option=name,
        ) from None


def parse_channels(value: str | None) -> Channels | None:
    return _member("channels", value, Channels)


def parse_size(value: str | None) -> SizePreset | None:
    return _member("size", value, SizePreset)


def parse_options(
    output_format: str | None,
    background: str | None,
    model: str | None,
    foreground_estimation: str | None = None,
    known_models: Collection[str] | None = None,
    *,
    crop: str | None = None,
    crop_margin: str | None = None,
    channels: str | None = None,
    size: str | None = None,
) -> ProcessingOptions:
    """Options from the request; absent ones take their defaults (png, transparent,
    the processor's default model, the processor's foreground estimation setting, the
    whole image at its size with colour and alpha). With ``known_models``, an unknown model
    is refused. A margin without `crop` is refused: it would do nothing."""
    cropped = parse_flag("crop", crop)
    margin = parse_crop_margin(crop_margin)
    if margin is not None and not cropped:
        raise Rejected(
            ErrorCode.INVALID_OPTION,
            "crop_margin applies only with crop=true",
            option="crop_margin",
        )
    return ProcessingOptions(
        output_format=parse_output_format(output_format),
        background=parse_background(background),
        model=parse_model(model, known_models),
        foreground_estimation=parse_foreground_estimation(foreground_estimation),
        crop=cropped or None,
        crop_margin=margin,
        channels=parse_channels(channels),
        size=parse_size(size),
    )
