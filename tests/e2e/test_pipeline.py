"""The whole pipeline as a user runs it, through public interfaces only."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import Pipeline, clearcut, sample_photos, write_photos

STARTED = "io.clearcut.image.processing.started.v1"
COMPLETED = "io.clearcut.image.processing.completed.v1"
SERVICES = {"upload", "processor", "projector", "notifier"}


async def _open(pipeline: Pipeline) -> ClientConnection:
    ws = await connect(pipeline.ws, additional_headers={"Authorization": f"Bearer {pipeline.key}"})
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome"
    await ws.send(json.dumps({"type": "subscribe", "all": True, "request_id": "all"}))
    return ws


async def _collect(
    ws: ClientConnection, tasks: dict[str, str], deadline: float
) -> dict[str, list[str]]:
    """Event types per image (of the given tasks) until each has completed."""
    seen: dict[str, list[str]] = {image_id: [] for image_id in tasks}
    while any(COMPLETED not in kinds for kinds in seen.values()):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"not all completed in time: {seen}"
        message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        if message.get("type") != "event" or message["image_id"] not in seen:
            continue
        event = message["event"]
        if event["data"].get("task_id") == tasks[message["image_id"]]:
            seen[message["image_id"]].append(event["type"])
    return seen


async def _poll_json(
    client: httpx.AsyncClient, url: str, ready: Any, within: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    body: dict[str, Any] = {}
    for _ in range(100_000):
        response = await client.get(url)
        if response.status_code == 200:
            body = response.json()
            if ready(body):
                return body
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    raise AssertionError(f"{url} never became ready; last answer: {str(body)[:500]}")


async def test_five_concurrent_uploads_complete_and_are_traced_end_to_end(
    pipeline: Pipeline,
) -> None:
    photos = sample_photos()
    ws = await _open(pipeline)
    headers = {"Authorization": f"Bearer {pipeline.key}"}
    async with httpx.AsyncClient(base_url=pipeline.api, headers=headers, timeout=60) as api:
        responses = await asyncio.gather(
            *(
                api.post("/v1/images", content=body, headers={"Content-Type": "image/*"})
                for body, _ in photos.values()
            )
        )
        for response in responses:
            assert response.status_code == 202, response.text
        accepted = [r.json() for r in responses]
        tasks = {a["id"]: a["task_id"] for a in accepted}
        expected_size = {
            a["id"]: size for a, (_, size) in zip(accepted, photos.values(), strict=True)
        }
        trace_ids = {
            a["id"]: r.headers["x-trace-id"] for a, r in zip(accepted, responses, strict=True)
        }

        seen = await _collect(ws, tasks, time.monotonic() + 300)
        await ws.close()
        for image_id, kinds in seen.items():
            assert kinds.index(STARTED) < kinds.index(COMPLETED), f"{image_id}: {kinds}"

        for image_id, size in expected_size.items():
            # The websocket may tell of completion before the read model has it.
            status = await _poll_json(
                api, f"/v1/images/{image_id}", lambda b: b["status"] == "completed"
            )
            timings = status["current_task"]["timings"]
            assert timings["inference_ms"] > 0
            assert timings["total_ms"] >= timings["inference_ms"]

            result = await api.get(f"/v1/images/{image_id}/result", params={"kind": "cutout"})
            assert result.status_code == 200
            cutout = Image.open(io.BytesIO(result.content))
            assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", size)

    async with httpx.AsyncClient(base_url=pipeline.jaeger, timeout=30) as jaeger:
        for image_id, trace_id in trace_ids.items():

            def all_services(body: dict[str, Any]) -> bool:
                trace = body["data"][0]
                return {p["serviceName"] for p in trace["processes"].values()} >= SERVICES

            body = await _poll_json(jaeger, f"/api/traces/{trace_id}", all_services, within=60)
            spans = body["data"][0]["spans"]
            assert {s["traceID"] for s in spans} == {trace_id}, image_id
            roots = [s for s in spans if not s["references"]]
            assert len(roots) == 1, "one trace per upload, with a single root"


def test_submit_writes_good_cutouts_and_names_the_broken_file(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    good = write_photos(photos)
    keep = ["astronaut.jpg", "rocket.jpg"]
    for name, path in good.items():
        if name not in keep:
            path.unlink()
    (photos / "broken.jpg").write_bytes(good["astronaut.jpg"].read_bytes()[:3000])
    out = tmp_path / "out"
    result = clearcut("submit", str(photos), "--out", str(out), "--key", pipeline.key, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "broken.jpg" in result.stdout
    assert "corrupt_image" in result.stdout
    written = sorted(p.name for p in out.iterdir())
    assert written == ["astronaut.jpg.cutout.png", "rocket.jpg.cutout.png"], result.stdout
    for name in written:
        assert Image.open(out / name).mode == "RGBA"


def test_doctor_passes_on_the_running_pipeline(pipeline: Pipeline) -> None:
    result = clearcut("doctor", timeout=120)
    assert result.returncode == 0, result.stdout
    assert "FAIL" not in result.stdout
