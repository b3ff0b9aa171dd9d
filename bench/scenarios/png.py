"""PNG: encoding a 24-megapixel cut-out and its mask, Pillow's writer against the processor's.

Offline, in this process: a 6000x4000 photo (scikit-image's coffee scaled up, with mild
camera-like noise) with a soft elliptical alpha, written as RGBA and its mask as L by
Pillow (zlib, adaptive filters) at several levels and by the processor's ``encode_png``
(ISA-L when installed, the Sub filter) at its levels.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from bench.photos import coffee_1024x768
from bench.results import Metric, ScenarioResult, Table
from bench.scenarios.context import Context

TITLE = "PNG: a 24-megapixel cut-out and mask, Pillow's encoder against the processor's"
SIZE = (6000, 4000)
PILLOW_LEVELS = (0, 1, 3, 6)
PROCESSOR_LEVELS = (0, 1, 2, 3)


def _pillow(image: Image.Image, level: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def _fastest(
    encode: Callable[[Image.Image, int], bytes], image: Image.Image, level: int, runs: int
) -> tuple[float, int]:
    """The fastest of ``runs`` encodings in ms, and the file's size."""
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = len(encode(image, level))
        times.append((time.perf_counter() - started) * 1000)
    return min(times), size


def run(ctx: Context, n: int) -> ScenarioResult:
    """``n`` runs of each encoder and level; the fastest of them is reported."""
    from services.processor.domain.png import encode_png
    from services.processor.settings import ProcessorSettings

    big = Image.fromarray(coffee_1024x768()).resize(SIZE, Image.Resampling.BICUBIC)
    noise = ctx.rng.normal(0, 3, size=(SIZE[1], SIZE[0], 3))
    rgb = Image.fromarray(np.clip(np.asarray(big, np.float32) + noise, 0, 255).astype(np.uint8))
    alpha = Image.new("L", SIZE, 0)
    ImageDraw.Draw(alpha).ellipse((1200, 400, 4800, 3800), fill=255)
    alpha = alpha.filter(ImageFilter.GaussianBlur(8))
    cutout = rgb.convert("RGBA")
    cutout.putalpha(alpha)

    def ours(image: Image.Image, level: int) -> bytes:
        return encode_png(image, level=level)

    encoders: list[tuple[str, Callable[[Image.Image, int], bytes], tuple[int, ...]]] = [
        ("pillow (zlib, adaptive filters)", _pillow, PILLOW_LEVELS),
        ("processor (encode_png)", ours, PROCESSOR_LEVELS),
    ]
    rows: list[tuple[str, int, float, int, float, int]] = []
    for name, encode, levels in encoders:
        for level in levels:
            (cut_ms, cut_bytes), (mask_ms, mask_bytes) = (
                _fastest(encode, image, level, n) for image in (cutout, alpha)
            )
            ctx.say(f"  {name} level {level}: cut-out {cut_ms:.0f} ms, mask {mask_ms:.0f} ms")
            rows.append((name, level, cut_ms, cut_bytes, mask_ms, mask_bytes))
    default = ProcessorSettings().png_compress_level
    chosen = next(r for r in rows if r[0].startswith("processor") and r[1] == min(default, 3))
    return ScenarioResult(
        scenario="png",
        title=TITLE,
        params={"runs": n, "width": SIZE[0], "height": SIZE[1], "processor_level": default},
        headline=[
            Metric(f"processor at its level ({default}): cut-out", chosen[2], "ms"),
            Metric(f"processor at its level ({default}): cut-out size", chosen[3] / 2**20, "MiB"),
        ],
        tables=[
            Table(
                "PNG encoding of a 6000x4000 RGBA cut-out and its L mask (fastest of the runs)",
                ["encoder", "level", "cut-out ms", "cut-out bytes", "mask ms", "mask bytes"],
                [list(row) for row in rows],
            )
        ],
        notes=["In this process, one image at a time; the pipeline is not involved."],
        data={"rows": rows},
    )
