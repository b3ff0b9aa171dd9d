"""Ingest: upload requests per second and their latency, with the processor stopped.

Only the front door is measured: HTTP, validation, the original into MinIO, ImageUploaded
onto Kafka (acks=all), the ledger in PostgreSQL. The processor is stopped for the run and
started again afterwards. The uploads name a model the registry does not have, so when the
processor comes back it fails each of them at once (``model_unknown``) instead of spending
a second of inference on every one; the scenario waits until it has.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.photos import fresh_jpeg, photo_near_bytes
from bench.results import Metric, Plot, ScenarioResult, Series, Table
from bench.scenarios.context import Context
from bench.stats import summarise

TITLE = "Ingest: upload API throughput and latency, processor stopped"
TARGET_BYTES = 200 * 1024
LEVELS = (1, 4, 16, 32)
QUICK_LEVELS = (1, 8)
WARMUP = 4
UNPROCESSED_MODEL = "bench-ingest-not-a-model"


@dataclass
class Level:
    concurrency: int
    requests: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


async def _run(ctx: Context, n: int) -> ScenarioResult:
    pipeline = ctx.pipeline
    levels = LEVELS if n >= 100 else QUICK_LEVELS
    pixels = photo_near_bytes(TARGET_BYTES)
    measured: list[Level] = []
    await pipeline.wait_drained(within=180)
    ctx.say("  stopping the processor")
    pipeline.stop_service("processor")
    try:
        async with pipeline.owner_key() as key:
            for concurrency in levels:
                # Fresh bodies made before the clock starts: encoding them costs CPU too.
                bodies = [fresh_jpeg(pixels, ctx.rng) for _ in range(n + WARMUP)]
                level = Level(concurrency, n)
                with ctx.profiled(["upload"], f"ingest-c{concurrency}"):
                    await _level(pipeline.endpoints.api_url, key, bodies, level)
                measured.append(level)
                p99 = summarise(level.latencies_ms).p99 if level.latencies_ms else float("nan")
                ctx.say(
                    f"  concurrency {concurrency}: {level.accepted / level.seconds:.1f} uploads/s, "
                    f"p99 {p99:.0f} ms, statuses {level.statuses}, errors {level.errors}"
                )
    finally:
        ctx.say("  starting the processor again")
        pipeline.start_service("processor")
    caught_up = time.monotonic()
    lag = await pipeline.wait_drained(within=600)
    catch_up_s = time.monotonic() - caught_up
    ctx.say(f"  processor caught up in {catch_up_s:.0f} s (lag left {lag})")
    body_bytes = len(fresh_jpeg(pixels, ctx.rng))
    return _result(ctx, n, measured, body_bytes, pixels.shape, catch_up_s)


async def _level(api_url: str, key: str, bodies: list[bytes], level: Level) -> None:
    limits = httpx.Limits(
        max_connections=level.concurrency, max_keepalive_connections=level.concurrency
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"}
    params = {"model": UNPROCESSED_MODEL}
    async with httpx.AsyncClient(base_url=api_url, limits=limits, timeout=120) as http:
        for body in bodies[:WARMUP]:  # connections, pools, first-call costs
            await http.post("/v1/images", content=body, headers=headers, params=params)
        queue = list(reversed(bodies[WARMUP:]))

        async def client() -> None:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                try:
                    response = await http.post(
                        "/v1/images", content=body, headers=headers, params=params
                    )
                except httpx.HTTPError:
                    level.errors += 1
                    continue
                level.latencies_ms.append((time.perf_counter() - started) * 1000.0)
                level.statuses[response.status_code] = (
                    level.statuses.get(response.status_code, 0) + 1
                )

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(level.concurrency)))
        level.seconds = time.perf_counter() - began


def _result(
    ctx: Context,
    n: int,
    levels: list[Level],
    body_bytes: int,
    shape: tuple[int, ...],
    catch_up_s: float,
) -> ScenarioResult:
    rows: list[list[Any]] = []
    for level in levels:
        s = summarise(level.latencies_ms)
        rows.append(
            [
                level.concurrency,
                level.requests,
                level.accepted / level.seconds,
                s.p50,
                s.p95,
                s.p99,
                s.maximum,
                sum(v for k, v in level.statuses.items() if k != 202) + level.errors,
            ]
        )
    best = max(levels, key=lambda lv: lv.accepted / lv.seconds)
    xs = [float(lv.concurrency) for lv in levels]
    return ScenarioResult(
        scenario="ingest",
        title=TITLE,
        params={
            "requests_per_level": n,
            "concurrency_levels": [lv.concurrency for lv in levels],
            "jpeg_bytes": body_bytes,
            "jpeg_size": f"{shape[1]}x{shape[0]}",
        },
        headline=[
            Metric(
                f"best throughput (concurrency {best.concurrency})",
                best.accepted / best.seconds,
                "uploads/s",
            ),
            Metric(
                f"p99 at concurrency {levels[0].concurrency}",
                summarise(levels[0].latencies_ms).p99,
                "ms",
            ),
        ],
        tables=[
            Table(
                "Uploads of a ~200 KB JPEG (latency in ms)",
                ["concurrency", "requests", "uploads/s", "p50", "p95", "p99", "max", "not 202"],
                rows,
            ),
            *ctx.profile_tables,
        ],
        plots=[
            Plot(
                "Throughput",
                "concurrent clients",
                "uploads/s",
                [Series("accepted", xs, [r[2] for r in rows])],
                log_x=True,
            ),
            Plot(
                "Latency",
                "concurrent clients",
                "ms",
                [
                    Series("p50", xs, [r[3] for r in rows]),
                    Series("p99", xs, [r[5] for r in rows]),
                ],
                log_x=True,
            ),
        ],
        notes=[
            "Each level sends its requests from that many concurrent keep-alive connections; "
            f"{WARMUP} warm-up requests per level are not counted. Every body is a fresh JPEG "
            "(random corner pixels), encoded before the clock starts.",
            f"After the run the processor was started again and failed the bench's uploads "
            f"(model `{UNPROCESSED_MODEL}`) in {catch_up_s:.0f} s.",
            "The load generator runs on the same two cores as the API, Kafka, MinIO and "
            "PostgreSQL.",
        ],
        data={
            "levels": [
                {
                    "concurrency": lv.concurrency,
                    "requests": lv.requests,
                    "seconds": lv.seconds,
                    "statuses": lv.statuses,
                    "errors": lv.errors,
                    "latencies_ms": lv.latencies_ms,
                }
                for lv in levels
            ]
        },
    )
