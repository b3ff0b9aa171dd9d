"""The subject's box in the pixels of a delivered image.

The processor reports the box in the mask's pixels (the oriented original's). A cut-out
may be cropped to the box plus a margin and scaled down to a size preset; the same box in
its pixels follows from those options alone.
"""

from __future__ import annotations

from typing import Any

from schemas.values import ForegroundBox, crop_margin_pixels


def box_in_result(
    box: dict[str, Any] | None,
    mask_size: tuple[int, int],
    result_size: tuple[int, int],
    shape: dict[str, Any] | None,
) -> dict[str, int] | None:
    """``box`` (mask pixels) in the pixels of an image of ``result_size`` made from the
    mask's image with ``shape`` (`crop`, `crop_margin`); ``None`` without a box."""
    if box is None:
        return None
    found = ForegroundBox.model_validate(box)
    shape = shape or {}
    if shape.get("crop"):
        top, right, bottom, left = crop_margin_pixels(shape.get("crop_margin"), found)
        region = (found.width + left + right, found.height + top + bottom)
        offset = (left, top)
    else:
        region, offset = mask_size, (found.left, found.top)
    sx, sy = result_size[0] / region[0], result_size[1] / region[1]
    return {
        "top": round(offset[1] * sy),
        "left": round(offset[0] * sx),
        "width": max(1, round(found.width * sx)),
        "height": max(1, round(found.height * sy)),
    }


def foreground_headers(box: dict[str, int] | None) -> dict[str, str]:
    """`X-Foreground-Top`, `-Left`, `-Width`, `-Height`; none without a box."""
    if box is None:
        return {}
    return {
        f"X-Foreground-{side.title()}": str(box[side])
        for side in ("top", "left", "width", "height")
    }
