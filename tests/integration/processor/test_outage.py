"""The object store goes away while uploads are queued: the worker waits, then completes
every one of them; none ends failed."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from schemas.events import ProcessingFailed
from services.common.settings import CommonSettings
from tests.integration.conftest import stack_command
from tests.integration.processor.conftest import Deployment
from tests.integration.processor.harness import WorkerProcess
from tests.integration.processor.test_recovery import _wait_committed
from tests.unit.processor import samples

pytestmark = [pytest.mark.disruptive, pytest.mark.timeout(900)]

OUTAGE_S = 20.0


async def _until_waiting(worker: WorkerProcess, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await worker.metric("clearcut_processor_tasks_waiting") >= 1:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no task waiting on the store within {within} s: {worker.tail()}")


async def test_an_object_store_outage_is_waited_out_never_a_failure(
    own_deployment: Deployment, log_dir: Path, stack: CommonSettings
) -> None:
    deployment = own_deployment
    group = f"tests-outage-{uuid.uuid4().hex[:8]}"
    worker = deployment.worker(
        log_dir,
        group,
        CLEARCUT_PROCESSOR_RETRY_ATTEMPTS="2",
        CLEARCUT_PROCESSOR_RETRY_INITIAL_S="0.2",
        CLEARCUT_PROCESSOR_RETRY_MAX_S="0.5",
        CLEARCUT_PROCESSOR_OUTAGE_RETRY_MAX_S="2",
    )
    worker.start()
    await worker.wait_ready()
    salt = uuid.uuid4().hex
    small = {
        "first": samples.photo("astronaut")[::2, ::2],
        "second": samples.photo("coffee")[::2, ::2],
        "third": np.ascontiguousarray(samples.photo("astronaut")[::2, ::-2]),
    }
    uploads = [
        await deployment.uploader.store(samples.salted(samples.jpeg(pixels), salt), name)
        for name, pixels in small.items()
    ]
    stack_command("down", "minio")
    try:
        for upload in uploads:
            await deployment.uploader.publish(upload)
        await _until_waiting(worker, within=120)
        async with httpx.AsyncClient(timeout=10) as client:
            ready = await client.get(f"{worker.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert "wait for one" in ready.json()["checks"]["dependencies"]
        await asyncio.sleep(OUTAGE_S)
        assert await worker.metric("clearcut_processor_outage_seconds") > OUTAGE_S / 2
    finally:
        stack_command("up", "minio")
    for upload in uploads:
        done = await deployment.events.completed(upload.image_id, within=300)
        assert done.task_id == upload.task_id
        assert not deployment.events.of(upload.image_id, ProcessingFailed)
    assert await worker.metric("clearcut_processor_tasks_waiting") == 0
    topic = deployment.topics.uploaded
    assert await _wait_committed(stack, group, topic, len(uploads)) == len(uploads)
