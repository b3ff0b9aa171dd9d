"""The synchronous answer's image, from the pipeline's cut-out: the subject's scale and
position, the background colour (with alpha), and PNG, JPG or ZIP (`color.jpg` +
`alpha.png`). Pure: bytes in, bytes out, run in the API's thread pool."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops

from schemas import ProcessingOptions
from services.common.shaping import foreground_box, shape_cutout
from services.upload.domain.foreground import box_in_result
from services.upload.domain.removebg import (
    AnswerFormat,
    Placement,
    RemoveBgRequest,
    Roi,
    roi_pixels,
)

JPEG_QUALITY = 90


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str
    width: int
    height: int
    foreground: dict[str, int] | None


def _within_roi(
    image: Image.Image, roi: Roi, shape: ProcessingOptions
) -> tuple[Image.Image, dict[str, int] | None]:
    """Everything outside the region made background, then the subject's box found in what
    is left (as the processor finds it), then the crop and size preset the request asked
    for; the box in the result's pixels."""
    alpha = image if image.mode == "L" else image.getchannel("A")
    left, top, right, bottom = roi_pixels(roi, image.size)
    region = Image.new("L", image.size, 0)
    if right > left and bottom > top:
        region.paste(255, (left, top, right, bottom))
    alpha = ImageChops.multiply(alpha, region)
    if image.mode == "L":
        image = alpha
    else:
        image = image.copy()
        image.putalpha(alpha)
    found = foreground_box(np.asarray(alpha))
    shaped = shape_cutout(image, alpha, found, shape.model_copy(update={"channels": None}), None)
    box = box_in_result(
        None if found is None else found.model_dump(),
        image.size,
        shaped.size,
        {"crop": shape.crop, "crop_margin": shape.crop_margin},
    )
    return shaped, box


def _place(
    image: Image.Image, box: dict[str, int] | None, placement: Placement
) -> tuple[Image.Image, dict[str, int] | None]:
    """The subject (the box's pixels) scaled to ``placement.scale`` of the canvas and moved
    to its position; the canvas keeps the image's size."""
    if box is None or (placement.scale is None and placement.position is None):
        return image, box
    left, top = box["left"], box["top"]
    subject = image.crop((left, top, left + box["width"], top + box["height"]))
    width, height = subject.size
    if placement.scale is not None:
        factor = min(image.width * placement.scale / width, image.height * placement.scale / height)
        width, height = max(1, round(width * factor)), max(1, round(height * factor))
        subject = subject.resize((width, height), Image.Resampling.LANCZOS)
    if placement.position is None:  # keep the subject's centre
        x = round(left + box["width"] / 2 - width / 2)
        y = round(top + box["height"] / 2 - height / 2)
    else:
        x = round((image.width - width) * placement.position[0])
        y = round((image.height - height) * placement.position[1])
    canvas = Image.new(image.mode, image.size, 0)
    canvas.paste(subject, (x, y))
    return canvas, {"top": y, "left": x, "width": width, "height": height}


def _encode(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "jpg":
        image.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _flatten(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    base = Image.new("RGB", image.size, colour)
    base.paste(image.convert("RGB"), mask=image.getchannel("A"))
    return base


def render(cutout: bytes, box: dict[str, int] | None, request: RemoveBgRequest) -> Rendered:
    """The answer to ``request`` from the pipeline's cut-out (RGBA, or the alpha alone as
    greyscale) and the subject's box in its pixels."""
    with Image.open(io.BytesIO(cutout)) as opened:
        image = opened.convert("L" if opened.mode in ("L", "LA", "I", "I;16") else "RGBA")
    if request.roi is not None and request.shape is not None:
        image, box = _within_roi(image, request.roi, request.shape)
    image, box = _place(image, box, request.placement)
    answer = request.answer_format
    if image.mode == "L":  # the alpha alone
        kind = "jpg" if answer is AnswerFormat.JPG else "png"
        return _rendered(_encode(image, kind), kind, image, box)
    if answer is AnswerFormat.ZIP:
        colour = image.convert("RGB")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
            zipped.writestr("color.jpg", _encode(colour, "jpg"))
            zipped.writestr("alpha.png", _encode(image.getchannel("A"), "png"))
        return Rendered(archive.getvalue(), "application/zip", image.width, image.height, box)
    bg = request.bg_color
    if bg is not None:
        layer = Image.new("RGBA", image.size, bg)
        image = Image.alpha_composite(layer, image)
        if bg[3] == 255:
            image = image.convert("RGB")
    transparent = image.mode == "RGBA"
    if answer is AnswerFormat.JPG or (answer is AnswerFormat.AUTO and not transparent):
        flat = _flatten(image, (255, 255, 255)) if transparent else image
        return _rendered(_encode(flat, "jpg"), "jpg", flat, box)
    return _rendered(_encode(image, "png"), "png", image, box)


def _rendered(data: bytes, kind: str, image: Image.Image, box: dict[str, int] | None) -> Rendered:
    content_type = "image/jpeg" if kind == "jpg" else "image/png"
    return Rendered(data, content_type, image.width, image.height, box)
