"""A burst of uploads through the pipeline and what it shows, shared by burst and scale."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.client import Outcome, PipelineClient
from bench.inference import BareLoop, default_model, model_input
from bench.measures import (
    COMPUTE_STAGES,
    Throughput,
    completion_curve,
    loop_throughput,
    span_throughput,
)
from bench.photos import fresh_jpeg, photos
from bench.results import Table
from bench.scenarios.context import Context

BARE_RUNS = 6
OUTCOME_WITHIN = 1800.0


@dataclass(frozen=True)
class BurstRun:
    started: float
    uploads_done_s: float
    outcomes: list[Outcome]

    @property
    def throughput(self) -> Throughput:
        return span_throughput(self.started, [o.received for o in self.outcomes])

    @property
    def batch_sizes(self) -> list[int]:
        return [int(o.data.get("batch_size") or 1) for o in self.outcomes]

    def curve(self) -> list[tuple[float, int]]:
        return completion_curve(self.started, [o.received for o in self.outcomes])

    def per_worker(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            worker = str(o.data.get("worker_id"))
            counts[worker] = counts.get(worker, 0) + 1
        return counts

    def as_data(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "uploads_done_s": self.uploads_done_s,
            "completions": [
                {
                    "image_id": o.image_id,
                    "received_s": o.received - self.started,
                    "worker_id": o.data.get("worker_id"),
                    "batch_size": o.data.get("batch_size"),
                    "timings": o.timings,
                }
                for o in self.outcomes
            ],
        }


def bare_throughput(ctx: Context, runs: int = BARE_RUNS) -> Throughput:
    """Images per second of a bare ONNX Runtime loop on the two photos (after warm-up)."""
    model = default_model()
    inputs = [model_input(pixels, model) for pixels in photos().values()]
    loop = BareLoop(model)
    for x in inputs:
        loop.run(x)
    durations = [loop.run(inputs[i % len(inputs)]) for i in range(runs)]
    result = loop_throughput(durations)
    ctx.say(f"  bare loop: {result.per_second:.3f} images/s over {runs} runs")
    return result


async def burst(ctx: Context, n: int, images: list[np.ndarray] | None = None) -> BurstRun:
    """``n`` fresh uploads at once (of ``images`` in turn, by default the two photos);
    returns when every one has completed."""
    images = images or list(photos().values())
    bodies = [fresh_jpeg(images[i % len(images)], ctx.rng) for i in range(n)]
    pipeline = ctx.pipeline
    async with pipeline.owner_key() as key:
        endpoints = pipeline.endpoints
        async with PipelineClient(
            endpoints.api_url, endpoints.ws_url, key, connections=max(n, 1)
        ) as client:
            started = time.time()
            accepted = await asyncio.gather(*(client.upload(body) for body in bodies))
            uploads_done = max(a.accepted for a in accepted) - started
            ctx.say(f"  {n} uploads accepted in {uploads_done:.1f} s; waiting for completions")
            outcomes = []
            for done, a in enumerate(accepted, start=1):
                outcomes.append(await client.completed(a.image_id, OUTCOME_WITHIN))
                if done % 10 == 0 or done == n:
                    ctx.say(f"  {done}/{n} completed, {time.time() - started:.0f} s")
    return BurstRun(started, uploads_done, outcomes)


def busy_table(run: BurstRun) -> Table:
    """How busy the processors' stages were during the burst: the inference stream, and the
    CPU pool's compute, as sums over images and shares of the burst's wall time (per
    processor when there are several). The stages overlap, so a task's remaining time is
    spent waiting for its turn at a stage and is not shown as a part."""
    wall = run.throughput.seconds * 1000.0
    workers = max(len(run.per_worker()), 1)
    inference = 0.0
    other = 0.0
    for o in run.outcomes:
        t = o.timings
        compute = {stage: float(t[stage]) for stage in COMPUTE_STAGES}
        # A batch's inference is reported to each of its images: share it out.
        inference += compute["inference_ms"] / int(o.data.get("batch_size") or 1)
        other += sum(compute.values()) - compute["inference_ms"]
    capacity = wall * workers
    rows: list[list[Any]] = [
        ["inference (the model busy)", inference / 1000.0, 100.0 * inference / capacity],
        ["model idle", (capacity - inference) / 1000.0, 100.0 * (capacity - inference) / capacity],
        [
            "other compute (decode, resize, compose, encode; beside inference)",
            other / 1000.0,
            100.0 * other / capacity,
        ],
    ]
    return Table(
        f"How busy the processor was ({workers} processor(s), wall {wall / 1000.0:.1f} s)",
        ["part", "seconds (sum over images)", "% of processor wall time"],
        rows,
    )
