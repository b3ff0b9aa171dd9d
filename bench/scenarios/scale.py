"""Scale: the burst with one and with two processor processes.

On this 2-core machine: one process with two intra-op threads (the pipeline's own
processor, whose setting 0 means one thread per core), then, with the pipeline's processor
stopped, one process of our own with one thread, and that one plus a second with one
thread. Each configuration's processes are the whole consumer group on ``image.uploaded``
(3 partitions), and its burst starts only once the group is stable with all of them. How
the uploads' keys fall on the partitions, and so on the processes, is reported, since with
3 partitions and 2 consumers one gets twice the work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from bench.burst_run import BurstRun, burst, busy_table
from bench.conditions import free_port
from bench.pipeline import ExtraProcessor
from bench.results import Metric, Plot, ScenarioResult, Series, Table
from bench.scenarios.context import Context
from bench.stats import ratio

TITLE = "Scale: the burst with one and two processor processes"
READY_WITHIN = 420.0


@dataclass(frozen=True)
class Config:
    label: str
    threads: list[int]  # intra-op threads of each process


CONFIGS = (
    Config("1 process x 2 threads", [2]),
    Config("1 process x 1 thread", [1]),
    Config("2 processes x 1 thread", [1, 1]),
)


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


async def _run(ctx: Context, n: int) -> ScenarioResult:
    pipeline = ctx.pipeline
    runs: dict[str, BurstRun] = {}
    await pipeline.wait_drained(within=180)
    first = CONFIGS[0]
    ctx.say(f"  {first.label}: the pipeline's own processor")
    await pipeline.wait_members(1, within=120)
    runs[first.label] = await burst(ctx, n)
    ctx.say("  stopping the pipeline's processor")
    pipeline.stop_service("processor")
    extras: list[ExtraProcessor] = []
    try:
        # The one-thread process of the second configuration stays for the third.
        for config in CONFIGS[1:]:
            while len(extras) < len(config.threads):
                threads = config.threads[len(extras)]
                extra = ExtraProcessor(pipeline.settings, len(extras) + 1, threads, free_port())
                extra.start()
                extras.append(extra)
            ctx.say(f"  {config.label}: {len(extras)} processor(s) of our own")
            for extra in extras:
                await asyncio.to_thread(extra.wait_ready, READY_WITHIN)
            await pipeline.wait_members(len(extras), within=120)
            await pipeline.wait_drained(within=120)
            runs[config.label] = await burst(ctx, n)
    finally:
        for extra in extras:
            await asyncio.to_thread(extra.stop)
        ctx.say("  starting the pipeline's processor again")
        pipeline.start_service("processor")
    partitions = await _partition_count(ctx)
    return _result(ctx, n, runs, partitions)


async def _partition_count(ctx: Context) -> int:
    offsets = await ctx.pipeline.processor_offsets()
    return len(offsets.partitions) or 3


def partition_of(image_id: str, partitions: int) -> int:
    everything = list(range(partitions))
    chosen: int = DefaultPartitioner()(image_id.encode("utf-8"), everything, everything)
    return chosen


def worker_split(run: BurstRun, partitions: int) -> str:
    """``worker: images (p0, p2)`` for each worker of a burst."""
    seen: dict[str, set[int]] = {}
    for outcome in run.outcomes:
        worker = str(outcome.data.get("worker_id"))
        seen.setdefault(worker, set()).add(partition_of(outcome.image_id, partitions))
    counts = run.per_worker()
    return "; ".join(
        f"{worker}: {counts[worker]} ({', '.join(f'p{p}' for p in sorted(parts))})"
        for worker, parts in sorted(seen.items())
    )


def _result(ctx: Context, n: int, runs: dict[str, BurstRun], partitions: int) -> ScenarioResult:
    base = runs[CONFIGS[0].label].throughput.per_second
    rows: list[list[Any]] = []
    tables: list[Table] = []
    for config in CONFIGS:
        run = runs[config.label]
        rate = run.throughput.per_second
        rows.append(
            [
                config.label,
                run.throughput.seconds,
                rate,
                ratio(rate, base),
                worker_split(run, partitions),
            ]
        )
        busy = busy_table(run)
        tables.append(Table(f"{config.label}: {busy.title}", busy.headers, busy.rows))
    best = max(runs.values(), key=lambda r: r.throughput.per_second)
    best_label = next(label for label, r in runs.items() if r is best)
    return ScenarioResult(
        scenario="scale",
        title=TITLE,
        params={"uploads_per_burst": n, "partitions": partitions},
        headline=[
            Metric(
                f"{config.label} throughput", runs[config.label].throughput.per_second, "images/s"
            )
            for config in CONFIGS
        ]
        + [
            Metric(
                "2 processes x 1 thread / 1 process x 2 threads",
                ratio(runs[CONFIGS[2].label].throughput.per_second, base),
            )
        ],
        tables=[
            Table(
                "Throughput per configuration",
                [
                    "configuration",
                    "seconds",
                    "images/s",
                    "vs 1 x 2 threads",
                    "images per worker (its partitions)",
                ],
                rows,
            ),
            *tables,
        ],
        plots=[
            Plot(
                "Completions over time",
                "seconds since the first request",
                "images completed",
                [
                    Series(
                        label, [t for t, _ in r.curve()], [float(c) for _, c in r.curve()], "step"
                    )
                    for label, r in runs.items()
                ],
            )
        ],
        notes=[
            f"Fastest: {best_label}. Each configuration got {n} fresh uploads at once; the "
            "processes of a configuration were ready and the consumer group stable before the "
            "first request.",
            f"An upload's partition is the murmur2 hash of its image id over {partitions} "
            "partitions; with two processes one of them is assigned two partitions, so it gets "
            "about two thirds of the images and the other finishes early and idles.",
        ],
        data={label: r.as_data() for label, r in runs.items()},
    )
