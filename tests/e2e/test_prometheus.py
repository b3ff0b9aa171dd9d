"""Prometheus of the local stack scrapes every service: after a real upload, its HTTP API
returns a live series from each of them, and the recording rules are evaluated."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from services.common.settings import CommonSettings
from tests.e2e.conftest import Pipeline, sample_photos
from tests.e2e.test_pipeline import _poll_json

# One series per service that only moves once an upload went through the whole pipeline.
LIVE = {
    "clearcut-upload": 'clearcut_uploads_total{outcome="accepted"}',
    "clearcut-processor": 'clearcut_processor_tasks_total{outcome=~"completed|reused"}',
    "clearcut-projector": "clearcut_projector_events_total",
    "clearcut-notifier": "notifier_events_total",
    "clearcut-webhooks": "webhooks_events_total",
}


async def _query(prometheus: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    response = await prometheus.get("/api/v1/query", params={"query": expr})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def test_prometheus_has_a_live_series_from_every_service(
    pipeline: Pipeline, stack: CommonSettings
) -> None:
    body, _ = next(iter(sample_photos().values()))
    headers = {"Authorization": f"Bearer {pipeline.key}"}
    async with httpx.AsyncClient(base_url=pipeline.api, headers=headers, timeout=60) as api:
        accepted = await api.post("/v1/images", content=body, headers={"Content-Type": "image/*"})
        assert accepted.status_code == 202, accepted.text
        image_id = accepted.json()["id"]
        await _poll_json(api, f"/v1/images/{image_id}", lambda b: b["status"] == "completed")

    async with httpx.AsyncClient(base_url=stack.prometheus.url, timeout=10) as prometheus:
        missing: dict[str, str] = dict(LIVE)
        deadline = time.monotonic() + 90  # a few scrape intervals
        while missing and time.monotonic() < deadline:
            for job, series in list(missing.items()):
                found = await _query(prometheus, f"sum({_with_job(series, job)}) > 0")
                if found:
                    del missing[job]
            if missing:
                await asyncio.sleep(1)
        assert not missing, f"no live series in Prometheus from {sorted(missing)}"

        up = await _query(prometheus, 'up{job=~"clearcut-.*"}')
        assert {s["metric"]["job"]: s["value"][1] for s in up} == {job: "1" for job in LIVE}
        rules = (await prometheus.get("/api/v1/rules")).json()["data"]["groups"]
        names = {rule["name"] for group in rules for rule in group["rules"]}
        assert {"clearcut:completions:rate5m", "ClearcutProcessorLagGrowing"} <= names


def _with_job(series: str, job: str) -> str:
    """``series`` with ``job="..."`` added to its label matchers."""
    if series.endswith("}"):
        return f'{series[:-1]},job="{job}"}}'
    return f'{series}{{job="{job}"}}'
