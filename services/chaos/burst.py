"""A burst of distinct uploads, sent as a patient client would: a 503 is retried after its
Retry-After, with the same Idempotency-Key, so a retry never makes a second image."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image

# Retry-After values larger than this are shortened, so a burst ends in reasonable time.
MAX_WAIT_S = 5.0


@dataclass
class BurstResult:
    uploads: int = 0
    accepted: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # final 4xx, or given up


def distinct_png(side: int = 64) -> bytes:
    """A small photo-like PNG with random pixels, so no two uploads share bytes and the
    processor's content index can never answer one from another."""
    rng = np.random.default_rng()
    pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.text[:60]


async def _one(client: httpx.AsyncClient, key: str, give_up_at: float, result: BurstResult) -> None:
    body = distinct_png()
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "image/png",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    while True:
        try:
            response = await client.post("/v1/images", content=body, headers=headers)
        except httpx.HTTPError as exc:
            result.statuses[f"no answer ({type(exc).__name__})"] += 1
            wait = 1.0
        else:
            code = response.status_code
            result.statuses[str(code)] += 1
            if code == 202:
                result.accepted.append(str(response.json()["id"]))
                return
            if code == 503:
                retry_after = response.headers.get("Retry-After")
                if retry_after is None:
                    result.bad["503 without Retry-After"] += 1
                wait = min(float(retry_after or 1), MAX_WAIT_S)
            elif code >= 500:
                result.bad[str(code)] += 1
                wait = 1.0
            else:
                # Every upload of the burst is valid: a 4xx is the pipeline's fault.
                result.refused[f"{code} {_error_code(response)}"] += 1
                result.bad[str(code)] += 1
                return
        if time.monotonic() + wait > give_up_at:
            result.refused["still refused when the client gave up"] += 1
            result.bad["never accepted"] += 1
            return
        await asyncio.sleep(wait)


async def burst(
    api: str, key: str, count: int, interval_s: float, retry_for_s: float
) -> BurstResult:
    """Start ``count`` uploads ``interval_s`` apart; each retries 503s for ``retry_for_s``."""
    result = BurstResult(uploads=count)
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        tasks = []
        for _ in range(count):
            give_up_at = time.monotonic() + retry_for_s
            tasks.append(asyncio.create_task(_one(client, key, give_up_at, result)))
            await asyncio.sleep(interval_s)
        await asyncio.gather(*tasks)
    return result
