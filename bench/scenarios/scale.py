"""Scale: the burst with one and with two processor processes.

On this 2-core machine: one process with two intra-op threads (what ``clearcut up`` runs),
one process with one thread, and two processes with one thread each. The pipeline's own
processor is stopped meanwhile; each configuration's processes join the same consumer
group on ``image.uploaded`` (3 partitions) and the burst starts only once the group is
stable with all of them. How the uploads' keys fall on the partitions, and so on the
processes, is reported, since with 3 partitions and 2 consumers one gets twice the work.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from bench.burst_run import BurstRun, burst, busy_table
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


async def _run(ctx: Context, n: int) -> ScenarioResult:
    pipeline = ctx.pipeline
    await pipeline.wait_drained(within=180)
    ctx.say("  stopping the pipeline's processor")
    pipeline.stop_service("processor")
    runs: dict[str, BurstRun] = {}
    try:
        for config in CONFIGS:
            extras = [
                ExtraProcessor(pipeline.settings, i, threads, free_port())
                for i, threads in enumerate(config.threads, start=1)
            ]
            try:
                ctx.say(f"  {config.label}: starting {len(extras)} processor(s)")
                for extra in extras:
                    extra.start()
                for extra in extras:
                    await asyncio.to_thread(extra.wait_ready, READY_WITHIN)
                await pipeline.wait_members(len(extras), within=120)
                await pipeline.wait_drained(within=120)
                runs[config.label] = await burst(ctx, n)
            finally:
                for extra in extras:
                    await asyncio.to_thread(extra.stop)
    finally:
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


def _result(ctx: Context, n: int, runs: dict[str, BurstRun], partitions: int) -> ScenarioResult:
    base = runs[CONFIGS[0].label].throughput.per_second
    rows: list[list[Any]] = []
    tables: list[Table] = []
    for config in CONFIGS:
        run = runs[config.label]
        rate = run.throughput.per_second
        spread = [0] * partitions
        for outcome in run.outcomes:
            spread[partition_of(outcome.image_id, partitions)] += 1
        rows.append(
            [
                config.label,
                run.throughput.seconds,
                rate,
                ratio(rate, base),
                ", ".join(f"{w}: {c}" for w, c in sorted(run.per_worker().items())),
                ", ".join(f"p{p}: {c}" for p, c in enumerate(spread)),
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
                    "images per worker",
                    "images per partition",
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
            "With two processes the group's range assignment gives one of them two of the "
            "three partitions; an upload's partition is the murmur2 hash of its image id, so "
            "the split of the images follows the table's partition column.",
        ],
        data={label: r.as_data() for label, r in runs.items()},
    )
