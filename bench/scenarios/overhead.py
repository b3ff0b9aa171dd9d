"""Pipeline overhead: sequential uploads, end to end minus the processor's compute.

For each upload: from the start of the HTTP request to the Completed message on the
websocket (end to end), and the processor's compute from the event's timing breakdown
(decode, preprocess, inference, postprocess, encode). Overhead is the difference, split
into where it was spent (see ``bench.measures.OVERHEAD_PARTS``). One image at a time, so
nothing queues behind another.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bench import roundtrips
from bench.client import PipelineClient
from bench.measures import (
    OVERHEAD_PART_HELP,
    OVERHEAD_PARTS,
    Journey,
    Overhead,
    overhead_of,
)
from bench.photos import fresh_jpeg, photos
from bench.results import Plot, ScenarioResult, Series, Table, Target, cdf
from bench.scenarios.context import Context
from bench.stats import percentile, summarise
from bench.traces import GAPS, OVERHEAD_GAPS, IncompleteTrace, journey_from_jaeger

TITLE = "Pipeline overhead: upload request to websocket notification, minus compute"
OUTCOME_WITHIN = 300.0
HOPS = "between the compute stages: executor hand-offs, waiting for a thread"


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


async def _run(ctx: Context, n: int) -> ScenarioResult:
    pipeline = ctx.pipeline
    images = photos()
    lag = await pipeline.wait_drained(within=180)
    samples: dict[str, list[Overhead]] = {name: [] for name in images}
    raw: list[dict[str, Any]] = []
    async with pipeline.owner_key() as key:
        endpoints = pipeline.endpoints
        async with PipelineClient(endpoints.api_url, endpoints.ws_url, key) as client:
            ctx.say("  warm-up: one upload of each photo (not counted)")
            for pixels in images.values():
                accepted = await client.upload(fresh_jpeg(pixels, ctx.rng))
                await client.completed(accepted.image_id, OUTCOME_WITHIN)
            with ctx.profiled(["upload", "processor", "notifier"], "overhead"):
                for round_ in range(n):
                    for name, pixels in images.items():
                        body = fresh_jpeg(pixels, ctx.rng)
                        accepted = await client.upload(body)
                        outcome = await client.completed(accepted.image_id, OUTCOME_WITHIN)
                        journey = Journey(
                            accepted.request_started,
                            accepted.accepted,
                            outcome.occurred_at,
                            outcome.received,
                            outcome.timings,
                        )
                        sample = overhead_of(journey)
                        samples[name].append(sample)
                        raw.append(
                            {
                                "photo": name,
                                "trace_id": accepted.trace_id,
                                "request_started": accepted.request_started,
                                "received": outcome.received,
                                "bytes": len(body),
                                "image_id": accepted.image_id,
                                "end_to_end_ms": sample.end_to_end_ms,
                                "compute_ms": sample.compute_ms,
                                "overhead_ms": sample.overhead_ms,
                                "http_ms": sample.http_ms,
                                "parts_ms": dict(sample.parts),
                                "timings": outcome.timings,
                                "batch_size": outcome.data.get("batch_size"),
                            }
                        )
                    ctx.say(
                        f"  round {round_ + 1}/{n}: overhead "
                        + ", ".join(f"{k} {v[-1].overhead_ms:.0f} ms" for k, v in samples.items())
                    )
    gaps = await _trace_gaps(pipeline.settings.telemetry.query_url, raw, ctx)
    ctx.say("  round trips to the object store and the broker, alone")
    trips = await roundtrips.measure(pipeline.settings)
    return _result(ctx, n, samples, raw, lag, gaps, trips)


async def _trace_gaps(
    query_url: str, raw: list[dict[str, Any]], ctx: Context
) -> list[dict[str, float]]:
    """The intervals of each upload's trace (uploads whose trace is incomplete are left out)."""
    found = []
    for sample in raw:
        if not sample["trace_id"]:
            continue
        try:
            gaps = await journey_from_jaeger(
                query_url, sample["trace_id"], sample["request_started"], sample["received"]
            )
        except (IncompleteTrace, httpx.HTTPError) as exc:
            ctx.say(f"  trace {sample['trace_id']}: {exc}")
            continue
        gaps["compute_hops"] = gaps["compute"] - sample["compute_ms"]
        sample["trace_gaps_ms"] = gaps
        found.append(gaps)
    return found


def _result(
    ctx: Context,
    n: int,
    samples: dict[str, list[Overhead]],
    raw: list[dict[str, Any]],
    lag: int,
    gaps: list[dict[str, float]],
    trips: dict[str, list[float]],
) -> ScenarioResult:
    everything = [s for series in samples.values() for s in series]
    overall = summarise([s.overhead_ms for s in everything])
    rows: list[list[Any]] = []
    for name, series in [*samples.items(), ("both", everything)]:
        e2e = summarise([s.end_to_end_ms for s in series])
        compute = summarise([s.compute_ms for s in series])
        over = summarise([s.overhead_ms for s in series])
        rows.append(
            [
                name,
                len(series),
                e2e.p50,
                e2e.p95,
                e2e.p99,
                compute.p50,
                over.p50,
                over.p95,
                over.p99,
            ]
        )
    mean_overhead = sum(s.overhead_ms for s in everything) / len(everything)
    part_rows: list[list[Any]] = []
    for part in OVERHEAD_PARTS:
        values = [s.parts[part] for s in everything]
        share = 100.0 * (sum(values) / len(values)) / mean_overhead if mean_overhead else 0.0
        part_rows.append(
            [
                part,
                percentile(values, 50),
                percentile(values, 95),
                percentile(values, 99),
                share,
                OVERHEAD_PART_HELP[part],
            ]
        )
    http = summarise([s.http_ms for s in everything])
    part_rows.append(
        [
            "(HTTP answer)",
            http.p50,
            http.p95,
            http.p99,
            None,
            "request start until the 202 arrived (overlaps the parts above)",
        ]
    )
    stage_rows: list[list[Any]] = []
    for stage in (
        "queue_wait_ms",
        "download_ms",
        "decode_ms",
        "preprocess_ms",
        "inference_ms",
        "postprocess_ms",
        "encode_ms",
        "upload_ms",
        "total_ms",
    ):
        stage_rows.append(
            [stage]
            + [
                percentile([float(r["timings"][stage]) for r in raw if r["photo"] == name], 50)
                for name in samples
            ]
        )
    plots = [
        Plot(
            "Overhead per upload: cumulative distribution",
            "overhead ms (end to end minus compute)",
            "fraction of uploads",
            [cdf(name, [s.overhead_ms for s in series]) for name, series in samples.items()],
        ),
        Plot(
            "Where the overhead goes (median per upload)",
            "part",
            "ms",
            [
                Series(
                    "median",
                    list(range(len(OVERHEAD_PARTS))),
                    [percentile([s.parts[p] for s in everything], 50) for p in OVERHEAD_PARTS],
                    "bar",
                )
            ],
            categories=list(OVERHEAD_PARTS),
        ),
    ]
    notes = [
        "Sequential: each upload waits for its Completed message before the next starts. "
        "Every upload has fresh bytes (random corner pixels); every Completed event was checked "
        "to have `reused_from_task_id` null, so the model ran for each.",
    ]
    if lag:
        notes.append(f"The processor still had {lag} uploads of others queued at the start.")
    return ScenarioResult(
        scenario="overhead",
        title=TITLE,
        params={"uploads_per_photo": n, "photos": list(samples)},
        targets=[
            Target("overhead p50", overall.p50, 20.0, True, "ms"),
            Target("overhead p99", overall.p99, 60.0, True, "ms"),
        ],
        tables=[
            Table(
                "End to end, compute and overhead (ms)",
                [
                    "photo",
                    "uploads",
                    "e2e p50",
                    "e2e p95",
                    "e2e p99",
                    "compute p50",
                    "overhead p50",
                    "overhead p95",
                    "overhead p99",
                ],
                rows,
            ),
            Table(
                "Where the overhead goes (ms, all uploads)",
                ["part", "p50", "p95", "p99", "% of mean overhead", "what"],
                part_rows,
            ),
            Table(
                "The processor's timing breakdown (median ms)",
                ["stage", *samples],
                stage_rows,
            ),
            _trace_table(gaps, len(everything)),
            Table(
                "Round trips to the stack, measured alone right after (ms)",
                ["call", "p50", "p95", "calls"],
                roundtrips.table_rows(trips),
            ),
            *ctx.profile_tables,
        ],
        plots=plots,
        notes=notes,
        data={"samples": raw, "round_trips_ms": trips},
    )


def _trace_table(gaps: list[dict[str, float]], uploads: int) -> Table:
    """Median and p99 of each interval of the uploads' traces (compute's hops apart)."""
    rows: list[list[Any]] = []
    if gaps:
        for name in [*OVERHEAD_GAPS, "compute_hops"]:
            values = [g[name] for g in gaps]
            what = GAPS.get(name, HOPS)
            rows.append([name, percentile(values, 50), percentile(values, 99), what])
        total = [sum(g[name] for name in OVERHEAD_GAPS) + g["compute_hops"] for g in gaps]
        rows.append(["overhead (sum)", percentile(total, 50), percentile(total, 99), ""])
    return Table(
        f"Where the overhead goes, from the uploads' traces in Jaeger ({len(gaps)} of "
        f"{uploads} traces complete; ms)",
        ["interval", "p50", "p99", "what"],
        rows,
    )
