"""Peer: the same photos through rembg, timed per image in the same run as ours.

Ours: upload, Completed on the websocket, the cut-out downloaded (bytes in, cut-out bytes
out, as a client of a background-removal server sees it). rembg: ``remove(bytes)`` in this
process with the same ISNet file (see ``bench.peer_rembg``) — no HTTP at all, so it is a
lower bound for a server built on it. The two alternate image by image (the order flips
every image); while one works the other is idle. Both use every core for inference.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.client import PipelineClient
from bench.inference import default_model
from bench.measures import compute_ms
from bench.peer_rembg import Rembg, no_downloads
from bench.photos import fresh_jpeg, photos
from bench.results import Metric, Plot, ScenarioResult, Series, Table, Target
from bench.scenarios.context import Context
from bench.stats import median, paired_ratios, ratio

TITLE = "Peer: Clearcut against rembg on the same ISNet model, image by image"
WARMUP_RUNS = 2


def run(ctx: Context, n: int) -> ScenarioResult:
    with no_downloads():
        return asyncio.run(_run(ctx, n))


async def _run(ctx: Context, n: int) -> ScenarioResult:
    pipeline = ctx.pipeline
    model = default_model()
    images = photos()
    names = list(images)
    peer = Rembg(model.path)
    ctx.say(f"  rembg {peer.version}, session dis_custom on {model.path}")
    for name in names:
        for _ in range(WARMUP_RUNS):
            await asyncio.to_thread(peer.remove, fresh_jpeg(images[name], ctx.rng))
    rows: list[dict[str, Any]] = []
    await pipeline.wait_drained(within=180)
    async with pipeline.owner_key() as key:
        endpoints = pipeline.endpoints
        async with PipelineClient(endpoints.api_url, endpoints.ws_url, key) as client:

            async def ours(body: bytes) -> dict[str, float]:
                accepted = await client.upload(body)
                outcome = await client.completed(accepted.image_id, 300)
                cutout = await client.result(accepted.image_id)
                done = time.time()
                return {
                    "ours_ms": (done - accepted.request_started) * 1000.0,
                    "ours_notified_ms": (outcome.received - accepted.request_started) * 1000.0,
                    "ours_compute_ms": compute_ms(outcome.timings),
                    "ours_inference_ms": float(outcome.timings["inference_ms"]),
                    "ours_bytes": float(len(cutout)),
                }

            async def theirs(body: bytes) -> dict[str, float]:
                cutout, seconds, inference = await asyncio.to_thread(peer.remove, body)
                return {
                    "rembg_ms": seconds * 1000.0,
                    "rembg_inference_ms": inference * 1000.0,
                    "rembg_bytes": float(len(cutout)),
                }

            for name in names:  # the pipeline's first image after idling is not counted
                await ours(fresh_jpeg(images[name], ctx.rng))
            for index in range(n):
                name = names[index % len(names)]
                body = fresh_jpeg(images[name], ctx.rng)
                row: dict[str, Any] = {
                    "photo": name,
                    "first": "ours" if index % 2 == 0 else "rembg",
                }
                sides = (ours, theirs) if index % 2 == 0 else (theirs, ours)
                for side in sides:
                    row.update(await side(body))
                rows.append(row)
                ctx.say(
                    f"  {index + 1}/{n} {name}: ours {row['ours_ms']:.0f} ms, "
                    f"rembg {row['rembg_ms']:.0f} ms"
                )
    return _result(n, peer.version, model, rows)


def _result(n: int, version: str, model: Any, rows: list[dict[str, Any]]) -> ScenarioResult:
    def col(key: str, photo: str | None = None) -> list[float]:
        return [float(r[key]) for r in rows if photo is None or r["photo"] == photo]

    ratio_e2e = median(paired_ratios(col("ours_ms"), col("rembg_ms")))
    table_rows: list[list[Any]] = []
    for photo in [*dict.fromkeys(r["photo"] for r in rows), None]:
        table_rows.append(
            [
                photo or "both",
                len(col("ours_ms", photo)),
                median(col("ours_ms", photo)),
                median(col("ours_notified_ms", photo)),
                median(col("ours_compute_ms", photo)),
                median(col("ours_inference_ms", photo)),
                median(col("rembg_ms", photo)),
                median(col("rembg_inference_ms", photo)),
                median(paired_ratios(col("ours_ms", photo), col("rembg_ms", photo))),
            ]
        )
    indexes = [float(i + 1) for i in range(len(rows))]
    return ScenarioResult(
        scenario="peer",
        title=TITLE,
        params={"photos": n, "rembg": version, "session": "dis_custom", "model": str(model.path)},
        targets=[Target("Clearcut / rembg per image (median)", ratio_e2e, 1.0, True)],
        headline=[
            Metric("Clearcut, upload to cut-out downloaded (median)", median(col("ours_ms")), "ms"),
            Metric("rembg remove() (median)", median(col("rembg_ms")), "ms"),
            Metric(
                "inference ratio Clearcut / rembg (medians)",
                ratio(median(col("ours_inference_ms")), median(col("rembg_inference_ms"))),
            ),
        ],
        tables=[
            Table(
                "Per image, medians (ms)",
                [
                    "photo",
                    "images",
                    "Clearcut: to cut-out in hand",
                    "Clearcut: to notification",
                    "Clearcut: compute",
                    "Clearcut: inference",
                    "rembg: remove()",
                    "rembg: inference",
                    "Clearcut / rembg",
                ],
                table_rows,
            )
        ],
        plots=[
            Plot(
                "Per image (alternating order)",
                "image",
                "ms",
                [
                    Series("Clearcut: upload to cut-out", indexes, col("ours_ms"), "scatter"),
                    Series("rembg remove()", indexes, col("rembg_ms"), "scatter"),
                ],
            )
        ],
        notes=[
            "The bar of 1.0 is ours: the pipeline (HTTP, object store, Kafka, websocket, a "
            "second HTTP request for the result) should cost no more than rembg's in-process "
            "call does on the same model.",
            "Outputs differ by design: Clearcut writes a cut-out and a mask (PNG, deflate level "
            "1); rembg one cut-out (Pillow's PNG defaults). Preprocessing differs too: rembg "
            "resizes with Lanczos and divides by the image's own maximum, Clearcut follows the "
            "DIS reference (bilinear, /255).",
            "rembg ran with its downloader disabled; the model file is the processor's cache "
            "entry, verified by its sha256.",
        ],
        data={"rows": rows},
    )
