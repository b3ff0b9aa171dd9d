"""Load check of the synchronous remove.bg endpoint: N requests at once against the API,
the projector and a real processor started as processes on topics of their own (as the
end-to-end tests do), while `/healthz` is asked every 100 ms.

    python -m tests.e2e.measure_removebg [--requests 20] [--size preview]

Prints how many requests completed, their latencies, and `/healthz`'s latencies meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from services.common.settings import CommonSettings
from tests.e2e.removebg_stack import RemoveBgDeployment, photo, removebg_deployment


async def one(
    client: httpx.AsyncClient, deployment: RemoveBgDeployment, size: str
) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.post(
        f"{deployment.api}/v1.0/removebg",
        files={"image_file": ("photo.jpg", photo(), "image/jpeg")},
        data={"size": size},
        headers={"X-Api-Key": deployment.key},
    )
    return response.status_code, time.monotonic() - started


async def health(client: httpx.AsyncClient, url: str, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    while not stop.is_set():
        started = time.monotonic()
        response = await client.get(f"{url}/healthz")
        response.raise_for_status()
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.1)
    return latencies


async def measure(requests: int, size: str) -> None:
    with tempfile.TemporaryDirectory() as logs:
        async with (
            removebg_deployment(CommonSettings(), Path(logs)) as deployment,
            httpx.AsyncClient(timeout=600) as client,
        ):
            status, warm = await one(client, deployment, size)
            print(f"warm-up request: {status} in {warm:.2f} s")
            stop = asyncio.Event()
            probe = asyncio.create_task(health(client, deployment.api, stop))
            started = time.monotonic()
            results = await asyncio.gather(
                *(one(client, deployment, size) for _ in range(requests))
            )
            wall = time.monotonic() - started
            stop.set()
            probes = await probe
    statuses = [s for s, _ in results]
    seconds = sorted(t for _, t in results)
    print(
        f"{requests} concurrent requests (size={size}): {statuses.count(200)} answered 200, "
        f"other statuses: {sorted(s for s in statuses if s != 200)}"
    )
    print(
        f"  wall {wall:.1f} s; latency min {seconds[0]:.1f} s, median "
        f"{statistics.median(seconds):.1f} s, max {seconds[-1]:.1f} s"
    )
    probes.sort()
    median = statistics.median(probes) * 1000
    p99 = probes[max(0, int(len(probes) * 0.99) - 1)] * 1000
    print(
        f"  /healthz meanwhile: {len(probes)} answers, median {median:.1f} ms, "
        f"p99 {p99:.1f} ms, max {probes[-1] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--size", default="preview")
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.size))


if __name__ == "__main__":
    main()
