"""A real worker on the real stack with the real ISNet model.

Every image is submitted once, up front, and the worker works through them while the
tests look at their outcomes: the number of full-size inferences stays small.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps

from schemas.events import ImageUploaded, ProcessingCompleted, ProcessingFailed, ProcessingStarted
from schemas.values import FailureReason
from services.common.settings import CommonSettings
from tests.integration.processor.conftest import Deployment
from tests.integration.processor.harness import WorkerProcess
from tests.integration.processor.reference import reference_mask
from tests.unit.processor import samples

pytestmark = pytest.mark.timeout(1200)

RUN = uuid.uuid4().hex
ASTRONAUT_JPEG = samples.salted(samples.jpeg(samples.photo("astronaut"), quality=92), RUN)


@functools.cache
def _images() -> dict[str, bytes]:
    """Salted with this run's id: results stored by content by an earlier run never apply."""
    coffee = samples.photo("coffee")
    images = {
        "astronaut": ASTRONAUT_JPEG,
        "coffee": samples.png(coffee),
        "astronaut-rotated": samples.exif_rotated_jpeg(samples.photo("astronaut"), quality=92),
        "coffee-cmyk": samples.cmyk_jpeg(coffee),
        "coffee-16bit": samples.png16(samples.to_16bit(coffee)),
        "coffee-palette": samples.palette_png(coffee),
        "broken": b"\xff\xd8\xff\xe0 this is not really a JPEG",
        "coffee-grey": samples.greyscale_png(coffee),
        "coffee-rgba": samples.with_transparent_border(coffee, 40),
        "astronaut-again": ASTRONAUT_JPEG,
        "large": samples.jpeg(
            np.asarray(Image.fromarray(coffee).resize((6000, 4000), Image.Resampling.BILINEAR)),
            quality=90,
        ),
    }
    return {
        name: data
        if name in ("broken", "astronaut", "astronaut-again")
        else samples.salted(data, RUN)
        for name, data in images.items()
    }


@pytest.fixture(scope="module")
async def worker(deployment: Deployment, log_dir: Path) -> WorkerProcess:
    process = deployment.worker(log_dir, f"tests-processor-{deployment.uploader.run}")
    process.start()
    await process.wait_ready()
    process.ready_peak_mb = process.peak_memory_mb()
    return process


@pytest.fixture(scope="module")
async def submitted(deployment: Deployment, worker: WorkerProcess) -> dict[str, ImageUploaded]:
    uploads = {}
    for name, data in _images().items():
        uploads[name] = await deployment.uploader.submit(data, name)
    return uploads


async def _mask(deployment: Deployment, done: ProcessingCompleted) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(await deployment.uploader.result(done, "mask"))))


async def test_masks_match_a_bare_onnx_runtime_run(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    for name in ("astronaut", "coffee"):
        done = await deployment.events.completed(submitted[name].image_id)
        mask = await _mask(deployment, done)
        rgb = np.asarray(Image.open(io.BytesIO(_images()[name])).convert("RGB"))
        assert mask.shape == rgb.shape[:2]
        score = samples.iou(mask, reference_mask(rgb))
        assert score >= 0.99, f"{name}: IoU {score:.4f} against a bare ONNX Runtime run"
        assert 0.05 < (mask > 127).mean() < 0.95, f"{name}: the mask must find a subject"
        cutout = Image.open(io.BytesIO(await deployment.uploader.result(done, "cutout")))
        assert cutout.mode == "RGBA" and cutout.size == (rgb.shape[1], rgb.shape[0])
        assert np.array_equal(np.asarray(cutout)[..., 3], mask), "the cut-out's alpha is the mask"
        assert np.array_equal(np.asarray(cutout)[..., :3], rgb), "colours are untouched"


async def test_completed_events_carry_the_contract(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    upload = submitted["astronaut"]
    done = await deployment.events.completed(upload.image_id)
    (started,) = deployment.events.of(upload.image_id, ProcessingStarted)
    assert started.task_id == done.task_id == upload.task_id
    assert started.attempt == done.attempt == 1
    assert done.model.name == "isnet-general-use" and done.model.version == "1.4.5"
    assert done.model.sha256 == "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"
    assert started.provider == done.provider == "cpu"
    assert done.batch_size == 1
    timings = done.timings
    stages = [
        timings.download_ms,
        timings.decode_ms,
        timings.preprocess_ms,
        timings.inference_ms,
        timings.postprocess_ms,
        timings.encode_ms,
        timings.upload_ms,
    ]
    assert all(ms > 0 for ms in stages), timings
    assert timings.total_ms >= sum(stages)
    for result in done.results:
        assert result.key.startswith(f"{upload.image_id}/{upload.task_id}/")
        assert (result.width, result.height) == (512, 512)


async def test_exif_rotated_jpeg_gives_the_upright_cutout(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    upright = await deployment.events.completed(submitted["astronaut"].image_id)
    rotated = await deployment.events.completed(submitted["astronaut-rotated"].image_id)
    upright_mask, rotated_mask = await _mask(deployment, upright), await _mask(deployment, rotated)
    assert rotated_mask.shape == upright_mask.shape
    assert samples.iou(rotated_mask, upright_mask) >= 0.99
    upright_cut = Image.open(io.BytesIO(await deployment.uploader.result(upright, "cutout")))
    rotated_cut = Image.open(io.BytesIO(await deployment.uploader.result(rotated, "cutout")))
    difference = np.abs(np.asarray(upright_cut, int) - np.asarray(rotated_cut, int))
    assert difference[..., :3].mean() < 3, "same picture, the same way up (JPEG noise aside)"


@pytest.mark.parametrize("variant", ["coffee-cmyk", "coffee-16bit", "coffee-palette"])
async def test_other_encodings_of_a_photo_give_its_mask(
    deployment: Deployment, submitted: dict[str, ImageUploaded], variant: str
) -> None:
    base = await _mask(deployment, await deployment.events.completed(submitted["coffee"].image_id))
    done = await deployment.events.completed(submitted[variant].image_id)
    score = samples.iou(await _mask(deployment, done), base)
    assert score >= 0.98, f"{variant}: IoU {score:.4f} against the 8-bit RGB original"


async def test_an_undecodable_image_fails_and_the_next_one_completes(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    failed = await deployment.events.outcome(submitted["broken"].image_id)
    assert isinstance(failed, ProcessingFailed)
    assert failed.reason is FailureReason.IMAGE_UNDECODABLE
    assert failed.retriable is False
    assert failed.message
    after = await deployment.events.completed(submitted["coffee-grey"].image_id)
    assert after.occurred_at > failed.occurred_at


async def test_transparent_input_pixels_stay_transparent(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    done = await deployment.events.completed(submitted["coffee-rgba"].image_id)
    cutout = np.asarray(Image.open(io.BytesIO(await deployment.uploader.result(done, "cutout"))))
    assert cutout[:40, :, 3].max() == 0 and cutout[:, :40, 3].max() == 0
    assert cutout[40:-40, 40:-40, 3].max() == 255


async def test_same_bytes_twice_run_inference_once(
    deployment: Deployment, submitted: dict[str, ImageUploaded], worker: WorkerProcess
) -> None:
    first = await deployment.events.completed(submitted["astronaut"].image_id)
    again = await deployment.events.completed(submitted["astronaut-again"].image_id)
    assert again.reused_from_task_id == first.task_id
    assert again.timings.inference_ms == 0
    for a, b in zip(first.results, again.results, strict=True):
        assert b.key.startswith(f"{again.image_id}/{again.task_id}/")
        assert await deployment.uploader.result(again, b.kind) == await deployment.uploader.result(
            first, a.kind
        )
    outcomes = [await deployment.events.outcome(u.image_id) for u in submitted.values()]
    ran = [o for o in outcomes if isinstance(o, ProcessingCompleted) and not o.reused_from_task_id]
    # Every completion without reuse ran the model once; the repeat did not.
    assert await worker.metric("clearcut_processor_inferences_total") == len(ran)
    assert len(ran) == len(submitted) - 2  # the broken image and the repeat


async def test_invalid_messages_are_dead_lettered(
    deployment: Deployment, worker: WorkerProcess, stack: CommonSettings
) -> None:
    from aiokafka import AIOKafkaConsumer

    from services.common.kafka.consumer import consumer_config
    from services.common.kafka.producer import create_producer

    producer = create_producer(stack.kafka, "clearcut-tests")
    await producer.start()
    try:
        await producer.send_and_wait(deployment.topics.uploaded, b"{not json", key=b"poison")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        deployment.topics.dlq(deployment.topics.uploaded),
        **consumer_config(stack.kafka, None, "clearcut-tests"),
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + 600
        while not found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(r for r in records if r.key == b"poison")
    finally:
        await consumer.stop()
    assert found, "the poison message never reached the dead-letter topic"
    headers = dict(found[0].headers)
    assert headers["dlq_reason"] == b"envelope_invalid"  # no CloudEvents headers at all
    assert found[0].value == b"{not json"
    assert await worker.metric("clearcut_processor_dead_letters_total") == 1


async def test_health_readiness_and_metrics(worker: WorkerProcess) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{worker.url}/healthz")).json() == {"status": "ok", "checks": {}}
        ready = await client.get(f"{worker.url}/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ok",
            "checks": {
                "model": "ok",
                "kafka": "ok",
                "object_store": "ok",
                "dependencies": "ok",
                "accepting": "ok",
            },
        }
        metrics = await client.get(f"{worker.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'clearcut_processor_model_info{max_batch="1",model="isnet-general-use"' in metrics.text
    assert 'provider="cpu"' in metrics.text
    assert "clearcut_processor_stage_seconds_bucket" in metrics.text


async def test_stage_spans_reach_jaeger_with_batch_provider_and_model(
    deployment: Deployment, submitted: dict[str, ImageUploaded], stack: CommonSettings
) -> None:
    upload = submitted["coffee"]
    await deployment.events.completed(upload.image_id)
    tags = json.dumps({"clearcut.image_id": upload.image_id})
    spans: list[dict[str, Any]] = []

    async with httpx.AsyncClient(timeout=5) as client:

        async def fetch() -> None:
            response = await client.get(
                f"{stack.telemetry.query_url}/api/traces",
                params={"service": "processor", "tags": tags, "limit": 5},
            )
            spans.clear()
            for found in response.json().get("data") or []:
                spans.extend(found["spans"])

        async def has_inference() -> bool:
            await fetch()
            return any(s["operationName"] == "processor.inference" for s in spans)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if await has_inference():
                break
            await asyncio.sleep(0.2)
    names = {s["operationName"] for s in spans}
    assert {"processor.task", "processor.download", "processor.inference"} <= names
    inference = next(s for s in spans if s["operationName"] == "processor.inference")
    attributes = {t["key"]: t["value"] for t in inference["tags"]}
    assert attributes["clearcut.batch_size"] == 1
    assert attributes["clearcut.provider"] == "cpu"
    assert attributes["clearcut.model"] == "isnet-general-use"


async def test_a_6000_by_4000_photo_stays_within_the_memory_bound(
    deployment: Deployment, submitted: dict[str, ImageUploaded], worker: WorkerProcess
) -> None:
    done = await deployment.events.completed(submitted["large"].image_id, within=900)
    assert {(r.width, r.height) for r in done.results} == {(6000, 4000)}
    # The documented bound: resident at ready, plus 0.25 GB for the first real inference
    # and buffers, plus 30 bytes per pixel of the image being processed.
    bound = worker.ready_peak_mb + 256 + 30 * 6000 * 4000 / 2**20
    assert worker.peak_memory_mb() <= bound


async def test_greyscale_completes(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    done = await deployment.events.completed(submitted["coffee-grey"].image_id)
    mask = await _mask(deployment, done)
    assert mask.shape == (400, 600)
    original = ImageOps.exif_transpose(Image.open(io.BytesIO(_images()["coffee-grey"])))
    assert original.mode == "L"
