"""Burst throughput: N uploads at once, time to the last completion, against a bare loop.

The bare ONNX Runtime loop's throughput on this machine (sequential inferences, the
processor's thread setting, while the pipeline is idle) is measured before and after N
fresh uploads sent at once; images per second is N over the time from the first request to
the last Completed message, and the fraction is that over the mean of the two bare-loop
figures, so a machine that gets faster or slower during the run does not decide it.
Between the burst and the second bare loop, the processor's own stage flow runs alone with
the same model (``bench/flow_alone.py``: originals in memory, events dropped, no other
service), which is the ceiling of the processor itself on this box.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench import flow_alone
from bench.burst_run import BurstRun, bare_throughput, burst, busy_table
from bench.inference import default_model
from bench.photos import fresh_jpeg, photos
from bench.results import Metric, Plot, ScenarioResult, Series, Table, Target
from bench.scenarios.context import Context

FLOW_ALONE_IMAGES = 20
TITLE = "Burst throughput: N uploads at once against the bare-loop throughput"


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


async def _run(ctx: Context, n: int) -> ScenarioResult:
    before = bare_throughput(ctx)
    lag = await ctx.pipeline.wait_drained(within=180)
    with ctx.profiled(["processor", "projector", "notifier"], "burst"):
        outcome = await burst(ctx, n)
    alone = await asyncio.to_thread(_flow_alone, ctx, min(n, FLOW_ALONE_IMAGES))
    ctx.say(f"  processor flow alone: {alone:.3f} images/s")
    after = bare_throughput(ctx)
    return _result(ctx, n, outcome, (before.per_second, after.per_second), lag, alone)


def _flow_alone(ctx: Context, count: int) -> float:
    from services.processor.models.configured import configured_registry
    from services.processor.settings import ProcessorSettings

    photo = photos()["1024x768"]
    bodies = [fresh_jpeg(photo, ctx.rng) for _ in range(count)]
    registry = configured_registry(ProcessorSettings())
    size = (photo.shape[1], photo.shape[0])
    return flow_alone.images_per_second(registry, default_model().path, bodies, size)


def _result(
    ctx: Context,
    n: int,
    outcome: BurstRun,
    bare: tuple[float, float],
    lag: int,
    alone: float,
) -> ScenarioResult:
    rate = outcome.throughput.per_second
    bare_per_second = (bare[0] + bare[1]) / 2
    fraction = rate / bare_per_second
    alone_fraction = alone / bare_per_second
    curve = outcome.curve()
    notes = [
        f"{n} fresh uploads sent at once (one HTTP connection each); the last was accepted "
        f"{outcome.uploads_done_s:.1f} s after the first request started.",
        "Bare loop: inference only, so the fraction also charges the pipeline for decoding, "
        "resizing, compositing and encoding, which the bare loop does not do.",
    ]
    if lag:
        notes.append(f"The processor still had {lag} uploads of others queued at the start.")
    rows: list[list[Any]] = [
        ["uploads", n],
        ["first request to last completion", f"{outcome.throughput.seconds:.1f} s"],
        ["pipeline images/s", rate],
        ["bare loop images/s (mean of before and after)", bare_per_second],
        ["bare loop images/s before / after the burst", f"{bare[0]:.3f} / {bare[1]:.3f}"],
        ["processor flow alone images/s (1024x768, in memory, no other service)", alone],
        ["processor flow alone / bare loop", alone_fraction],
        ["batch sizes seen", ", ".join(str(b) for b in sorted(set(outcome.batch_sizes)))],
    ]
    return ScenarioResult(
        scenario="burst",
        title=TITLE,
        params={"uploads": n},
        targets=[Target("burst / bare-loop throughput", fraction, 0.95, False)],
        headline=[
            Metric("pipeline throughput", rate, "images/s"),
            Metric("bare-loop throughput", bare_per_second, "images/s"),
            Metric("processor flow alone / bare loop", alone_fraction, ""),
        ],
        tables=[
            Table("Burst", ["measure", "value"], rows),
            busy_table(outcome),
            *ctx.profile_tables,
        ],
        plots=[
            Plot(
                "Completions over time",
                "seconds since the first request",
                "images completed",
                [
                    Series("pipeline", [t for t, _ in curve], [float(c) for _, c in curve], "step"),
                    Series(
                        "bare loop rate",
                        [0.0, n / bare_per_second],
                        [0.0, float(n)],
                        "dashed",
                    ),
                ],
            )
        ],
        notes=notes,
        data={
            "bare_images_per_second": bare_per_second,
            "bare_before_after": list(bare),
            "flow_alone_images_per_second": alone,
            **outcome.as_data(),
        },
    )
