"""Ceiling: what the pipeline delivers when the model costs nothing, against a bare loop.

The processor exists to keep an accelerator busy; whether it can is a question about
everything around the model. So the model here is the bench's near-free null model
(``bench.nullmodel``: ISNet's shapes, a few milliseconds of work), run by a processor the
bench starts with a registry of its own, while the pipeline's processor is stopped.

Interleaved in rounds on the same cores:

- **bare loop**: the same per-image work in this process, with the processor's own code
  (``decode_and_preprocess``, the null model's ``ModelSession``, ``postprocess``, the PNG
  encoders), over a pool of as many threads as the processor's CPU pool;
- **pipeline**: as many fresh uploads of the same photo at once, from the first request to
  the last Completed message on the websocket.

The ratio is pipeline images/s over bare-loop images/s. CPU time of every process of the
pipeline and its stack is read from ``/proc`` around each pipeline round (per image), and
once over a quiet period with nothing to do (idle, in % of one core).
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import flow_alone
from bench.burst_run import BurstRun, burst
from bench.conditions import OTHER, categorise, free_port, read_processes
from bench.nullmodel import NullModel, write_null_model
from bench.photos import coffee_1024x768, fresh_jpeg
from bench.pipeline import ExtraProcessor
from bench.results import Metric, Plot, ScenarioResult, Series, Table, Target
from bench.scenarios.context import Context
from bench.stats import ratio

TITLE = "Ceiling: the pipeline with a near-free model against a bare loop of the same work"
ROUNDS = 3
IDLE_S = 20.0
READY_WITHIN = 300.0
PHOTO_SIZE = (1024, 768)


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


class BareLoop:
    """The processor's per-image CPU work, without Kafka, MinIO or the event loop."""

    def __init__(self, null: NullModel) -> None:
        import cv2

        from services.processor.models.registry import load_registry
        from services.processor.runtime.session import load_session
        from services.processor.settings import ProcessorSettings

        cv2.setNumThreads(1)  # as the processor does: the pool's threads are the parallelism
        self.settings = ProcessorSettings()
        spec = load_registry(null.registry).get(None)
        self.session = load_session(spec, null.path, self.settings)
        self.threads = self.settings.cpu_threads
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="bench-bare")
        from schemas.values import OutputFormat
        from services.processor import imagework

        self._work = imagework
        self._options = imagework.EncodeOptions(
            OutputFormat.PNG,
            "transparent",
            self.settings.png_compress_level,
            self.settings.webp_quality,
        )

    def one(self, body: bytes) -> None:
        from schemas.values import OutputFormat
        from services.processor.domain.finish import FinishOptions
        from services.processor.domain.timing import StageTimes

        work = self._work
        stages = StageTimes()
        decoded, x = work.decode_and_preprocess(
            body,
            self.session.prepare,
            OutputFormat.PNG,
            max_pixels=self.settings.max_pixels,
            stages=stages,
        )
        output = self.session.infer([x])[0]
        finish = FinishOptions.configured(
            "transparent", self.settings.foreground_estimation, self.settings.mask_upsampling
        )
        alpha, image, _ = work.postprocess(output, decoded, finish, stages=stages)
        work.encode_cutout_result(image, self._options, decoded.icc_profile)
        work.encode_mask_result(alpha, self._options)

    def images_per_second(self, bodies: list[bytes]) -> float:
        started = time.perf_counter()
        list(self._pool.map(self.one, bodies))
        return len(bodies) / (time.perf_counter() - started)

    def close(self) -> None:
        self._pool.shutdown()


def cpu_seconds(roots: dict[str, set[int]]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree (and ``other``)."""
    processes = read_processes()
    owners = categorise({pid: p.parent for pid, p in processes.items()}, roots)
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for pid, sample in processes.items():
        name = owners.get(pid, OTHER)
        totals[name] = totals.get(name, 0.0) + sample.ticks / tick
    return totals


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: max(0.0, value - before.get(name, 0.0)) for name, value in after.items()}


async def _run(ctx: Context, n: int) -> ScenarioResult:
    pipeline = ctx.pipeline
    from services.processor.models.registry import load_registry

    null = write_null_model(pipeline.settings.paths.home / "bench" / "null-model")
    null_registry = load_registry(null.registry)
    photo = coffee_1024x768()
    bare = BareLoop(null)
    await pipeline.wait_drained(within=180)
    ctx.say(f"  idle: CPU of every process over {IDLE_S:.0f} s with nothing to do")
    before = cpu_seconds(pipeline.roots())
    await asyncio.sleep(IDLE_S)
    idle = {k: 100.0 * v / IDLE_S for k, v in _delta(cpu_seconds(pipeline.roots()), before).items()}

    ctx.say("  stopping the pipeline's processor; starting one with the null model")
    pipeline.stop_service("processor")
    extra = ExtraProcessor(
        pipeline.settings,
        1,
        0,
        free_port(),
        env={
            "CLEARCUT_PROCESSOR_REGISTRY_FILE": str(null.registry),
            "CLEARCUT_MODEL_CACHE": str(null.path.parent / "cache"),
            "CLEARCUT_PROCESSOR_WORKER_ID": "bench-ceiling",
        },
    )
    per_round = max(1, n // ROUNDS)
    bare_rates: list[float] = []
    flow_rates: list[float] = []
    runs: list[BurstRun] = []
    cpu: dict[str, float] = {}
    try:
        extra.start()
        await asyncio.to_thread(extra.wait_ready, READY_WITHIN)
        await pipeline.wait_members(1, within=120)
        await pipeline.wait_drained(within=120)
        await burst(ctx, 2, [photo])  # warm-up: connections, first images
        for round_ in range(ROUNDS):
            bodies = [fresh_jpeg(photo, ctx.rng) for _ in range(per_round)]
            bare_rates.append(await asyncio.to_thread(bare.images_per_second, bodies))
            flow_rates.append(
                await asyncio.to_thread(
                    flow_alone.images_per_second, null_registry, null.path, bodies, PHOTO_SIZE
                )
            )
            before = cpu_seconds(pipeline.roots())
            outcome = await burst(ctx, per_round, [photo])
            for name, value in _delta(cpu_seconds(pipeline.roots()), before).items():
                cpu[name] = cpu.get(name, 0.0) + value
            runs.append(outcome)
            ctx.say(
                f"  round {round_ + 1}/{ROUNDS}: bare {bare_rates[-1]:.1f} images/s, "
                f"processor flow alone {flow_rates[-1]:.1f}, "
                f"pipeline {outcome.throughput.per_second:.1f} images/s"
            )
    finally:
        bare.close()
        await asyncio.to_thread(extra.stop)
        ctx.say("  starting the pipeline's processor again")
        pipeline.start_service("processor")
    return _result(n, per_round, bare_rates, flow_rates, runs, cpu, idle, bare.threads)


def _result(
    n: int,
    per_round: int,
    bare_rates: list[float],
    flow_rates: list[float],
    runs: list[BurstRun],
    cpu: dict[str, float],
    idle: dict[str, float],
    threads: int,
) -> ScenarioResult:
    images = per_round * len(runs)
    pipeline_rate = images / sum(r.throughput.seconds for r in runs)
    bare_rate = images / sum(per_round / rate for rate in bare_rates)
    flow_rate = images / sum(per_round / rate for rate in flow_rates)
    fraction = ratio(pipeline_rate, bare_rate)
    services = {k: v for k, v in idle.items() if k not in (OTHER, "bench")}
    busiest = max(services.items(), key=lambda kv: kv[1]) if services else ("none", 0.0)
    names = sorted(set(cpu) | set(idle), key=lambda name: -cpu.get(name, 0.0))
    cpu_rows: list[list[Any]] = [
        [
            name,
            1000.0 * cpu[name] / images if name in cpu else "(stopped)",
            idle.get(name, 0.0),
        ]
        for name in names
    ]
    batch_sizes = sorted({b for r in runs for b in r.batch_sizes})
    return ScenarioResult(
        scenario="ceiling",
        title=TITLE,
        params={"uploads": images, "rounds": len(runs), "bare_threads": threads},
        targets=[
            Target("pipeline / bare loop (images/s)", fraction, 0.8, False),
            Target(f"idle CPU of the busiest service ({busiest[0]})", busiest[1], 1.0, True, "%"),
        ],
        headline=[
            Metric("pipeline throughput", pipeline_rate, "images/s"),
            Metric("bare-loop throughput", bare_rate, "images/s"),
            Metric("processor flow alone / bare loop", ratio(flow_rate, bare_rate)),
        ],
        tables=[
            Table(
                "Rounds (interleaved)",
                [
                    "round",
                    "bare loop images/s",
                    "processor flow alone images/s",
                    "pipeline images/s",
                    "pipeline / bare",
                ],
                [
                    [i + 1, b, f, r.throughput.per_second, ratio(r.throughput.per_second, b)]
                    for i, (b, f, r) in enumerate(zip(bare_rates, flow_rates, runs, strict=True))
                ],
            ),
            Table(
                "CPU per process tree: ms per image during the pipeline rounds, % of a core idle",
                ["process", "CPU ms per image", "idle CPU %"],
                cpu_rows,
            ),
        ],
        plots=[
            Plot(
                "Throughput per round",
                "round",
                "images/s",
                [
                    Series("bare loop", [float(i + 1) for i in range(len(runs))], bare_rates),
                    Series(
                        "pipeline",
                        [float(i + 1) for i in range(len(runs))],
                        [r.throughput.per_second for r in runs],
                    ),
                ],
            )
        ],
        notes=[
            f"{images} uploads of the 1024x768 photo (fresh bytes each) in {len(runs)} rounds "
            f"of {per_round}, each after a bare-loop round of the same size; the bare loop "
            f"runs the processor's own per-image code on {threads} threads (the size of the "
            "processor's CPU pool) in the bench's process.",
            "Processor flow alone: the processor's own stage flow (`bench/flow_alone.py`: its "
            "real stages, CPU pool and inference executor, the originals in memory, events "
            "dropped) on the same bodies, the other services idle: the ceiling of one box "
            "whose processor has the cores to itself.",
            "The pipeline's figure is a whole-machine one: the upload API, Kafka, MinIO, "
            "PostgreSQL, the projector, the notifier and the bench's own client share the same "
            "cores with the processor.",
            f"Batch sizes seen: {', '.join(str(b) for b in batch_sizes)}.",
            "Idle: CPU over "
            f"{IDLE_S:.0f} s with the pipeline drained and nothing uploaded, the pipeline's own "
            "processor (ISNet) running.",
        ],
        data={
            "bare_rates": bare_rates,
            "pipeline": [r.as_data() for r in runs],
            "cpu_seconds": cpu,
            "idle_percent": idle,
        },
    )
