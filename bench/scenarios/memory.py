"""Memory: the processor's resident memory during a burst of 24-megapixel photos.

N fresh 6000x4000 JPEGs are uploaded at once to the pipeline's own processor while its
``VmRSS`` is sampled every 0.2 s from ``/proc``. The peak is set against the bound the
processor README states,

    R + MAX_DECODED x 25 B x P + MAX_IN_FLIGHT x S,

with R the resident size before the burst, P the pixels of one photo and S its size.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
from PIL import Image

from bench.burst_run import burst
from bench.conditions import resident_kib
from bench.photos import coffee_1024x768, jpeg
from bench.results import Metric, Plot, ScenarioResult, Series, Table, Target
from bench.scenarios.context import Context
from bench.stats import median
from schemas.values import Timings

TITLE = "Memory: the processor's resident memory during a burst of 24-megapixel photos"
SIZE = (6000, 4000)
BYTES_PER_PIXEL = 25
MB = 1024 * 1024
STAGES = tuple(Timings.model_fields)  # the Completed event's timing breakdown


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


def resident_mb(pid: int) -> float:
    return resident_kib(pid) / 1024


async def _sample(pid: int, into: list[tuple[float, float]], started: float) -> None:
    while True:
        with contextlib.suppress(OSError):
            into.append((time.time() - started, resident_mb(pid)))
        await asyncio.sleep(0.2)


async def _run(ctx: Context, n: int) -> ScenarioResult:
    from services.processor.composition import flow_limits
    from services.processor.settings import ProcessorSettings

    pipeline = ctx.pipeline
    pid = pipeline.service_pid("processor")
    if pid is None:
        pipeline.start_service("processor")
        pid = pipeline.service_pid("processor")
    assert pid is not None
    await pipeline.wait_drained(within=180)
    photo = np.asarray(Image.fromarray(coffee_1024x768()).resize(SIZE, Image.Resampling.BICUBIC))
    size_mb = len(jpeg(photo)) / MB
    limits = flow_limits(ProcessorSettings(), 1)
    before = resident_mb(pid)
    samples: list[tuple[float, float]] = []
    started = time.time()
    sampler = asyncio.create_task(_sample(pid, samples, started))
    try:
        outcome = await burst(ctx, n, [photo])
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    peak = max(mb for _, mb in samples)
    pixels = SIZE[0] * SIZE[1]
    decoded = min(n, limits.max_decoded)
    held = min(n, limits.max_in_flight)
    bound = before + decoded * BYTES_PER_PIXEL * pixels / MB + held * size_mb
    return ScenarioResult(
        scenario="memory",
        title=TITLE,
        params={"uploads": n, "width": SIZE[0], "height": SIZE[1]},
        targets=[Target("peak resident / stated bound", peak / bound, 1.0, True)],
        headline=[
            Metric("processor peak resident", peak, "MiB"),
            Metric("stated bound", bound, "MiB"),
        ],
        tables=[
            Table(
                "Resident memory of the processor",
                ["measure", "value"],
                [
                    ["resident before the burst (R)", f"{before:,.0f} MiB"],
                    ["peak during the burst", f"{peak:,.0f} MiB"],
                    ["peak - R", f"{peak - before:,.0f} MiB"],
                    [
                        f"bound: R + {decoded} decoded x {BYTES_PER_PIXEL} B x {pixels:,} px "
                        f"+ {held} x {size_mb:.1f} MiB",
                        f"{bound:,.0f} MiB",
                    ],
                    ["burst wall time", f"{outcome.throughput.seconds:.1f} s"],
                ],
            ),
            Table(
                "The processor's timing breakdown of the 24-megapixel photos (ms)",
                ["stage", "median", "max"],
                [
                    [stage, median(values), max(values)]
                    for stage in STAGES
                    if (values := [float(o.timings[stage]) for o in outcome.outcomes])
                ],
            ),
        ],
        plots=[
            Plot(
                "Processor resident memory",
                "seconds since the first request",
                "MiB",
                [Series("VmRSS", [t for t, _ in samples], [mb for _, mb in samples])],
            )
        ],
        notes=[
            f"{n} fresh 6000x4000 JPEGs ({size_mb:.1f} MiB each) sent at once to the "
            f"pipeline's processor (MAX_DECODED {limits.max_decoded}, MAX_IN_FLIGHT "
            f"{limits.max_in_flight}); VmRSS sampled every 0.2 s."
        ],
        data={"samples": samples, "before_mb": before, "bound_mb": bound},
    )
