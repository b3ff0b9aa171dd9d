"""A bounded load test of `POST /v1/images` against a running upload API.

    python -m services.upload.loadtest --url http://127.0.0.1:8080 --key KEY \\
        --size-kb 200 --concurrency 16 --duration 30

Sends the same generated JPEG (about ``--size-kb``) from ``--concurrency`` concurrent
clients for ``--duration`` seconds (and at most ``--max-requests``), then reports uploads per
second and latency percentiles. Only for servers on this machine or your own test hosts.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import typer
from PIL import Image
from rich.console import Console

console = Console()


def jpeg_of_size(target_bytes: int) -> bytes:
    """A noisy JPEG of about ``target_bytes`` (noise keeps the encoder from shrinking it)."""
    import numpy as np

    rng = np.random.default_rng(1)
    side = 256
    while True:
        height = int(side * 0.75)
        ramp = np.linspace(0, 255, side, dtype=np.float32)[None, :, None]
        pixels = np.clip(ramp * 0.8 + rng.random((height, side, 3)) * 60, 0, 255)
        out = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8), "RGB").save(out, "JPEG", quality=90)
        if out.tell() >= target_bytes * 0.95:
            return out.getvalue()
        side = int(side * (target_bytes / out.tell()) ** 0.5) + 8


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def _client(
    client: httpx.AsyncClient,
    body: bytes,
    key: str,
    deadline: float,
    budget: list[int],
    tally: Tally,
) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"}
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        started = time.perf_counter()
        try:
            response = await client.post("/v1/images", content=body, headers=headers)
        except httpx.HTTPError:
            tally.errors += 1
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1


async def run(
    url: str, key: str, size_kb: int, concurrency: int, duration: float, max_requests: int
) -> None:
    body = jpeg_of_size(size_kb * 1024)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        # Warm-up: connections, pools, first-call costs.
        for _ in range(min(concurrency, 8)):
            await client.post(
                "/v1/images",
                content=body,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"},
            )
        tally = Tally()
        budget = [max_requests]
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(
            *(_client(client, body, key, deadline, budget, tally) for _ in range(concurrency))
        )
        elapsed = time.monotonic() - started
    accepted = tally.statuses.get(202, 0)
    ms = [s * 1000 for s in tally.latencies]
    console.print(
        f"body {len(body)} bytes, concurrency {concurrency}, {elapsed:.1f} s: "
        f"{accepted} accepted ({accepted / elapsed:.1f} uploads/s), statuses {tally.statuses}, "
        f"transport errors {tally.errors}"
    )
    if ms:
        console.print(
            f"latency ms: p50 {percentile(ms, 50):.1f}  p90 {percentile(ms, 90):.1f}  "
            f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
        )


def main(
    url: Annotated[str, typer.Option(help="Base URL of the upload API.")] = "http://127.0.0.1:8080",
    key: Annotated[str, typer.Option(help="API key.")] = "dev-key",
    size_kb: Annotated[int, typer.Option(help="Approximate JPEG size in KiB.")] = 200,
    concurrency: Annotated[int, typer.Option(help="Concurrent clients.")] = 16,
    duration: Annotated[float, typer.Option(help="Seconds to run (at most).")] = 30.0,
    max_requests: Annotated[int, typer.Option(help="Requests to send (at most).")] = 20_000,
) -> None:
    asyncio.run(run(url, key, size_kb, concurrency, duration, max_requests))


if __name__ == "__main__":
    typer.run(main)
