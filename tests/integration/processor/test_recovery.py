"""Workers die and stop: no image is lost, none is processed into two different results."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from PIL import Image

from schemas.events import ProcessingCompleted, ProcessingFailed, ProcessingStarted
from services.common.settings import CommonSettings
from tests.integration.conftest import poll_until
from tests.integration.processor.conftest import Deployment
from tests.unit.processor import samples

pytestmark = pytest.mark.timeout(1500)


def _distinct_images(salt: str) -> dict[str, bytes]:
    astronaut, coffee = samples.photo("astronaut"), samples.photo("coffee")
    return {
        "first": samples.salted(samples.jpeg(astronaut), salt),
        "second": samples.salted(samples.jpeg(coffee), salt),
        "third": samples.salted(samples.jpeg(np.ascontiguousarray(astronaut[:, ::-1])), salt),
    }


async def _committed(stack: CommonSettings, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(TopicPartition(topic, 0))
    return meta.offset if meta is not None else -1


async def _wait_committed(
    stack: CommonSettings, group: str, topic: str, offset: int, within: float = 60.0
) -> int:
    deadline = time.monotonic() + within
    committed = await _committed(stack, group, topic)
    while committed < offset and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        committed = await _committed(stack, group, topic)
    return committed


async def test_a_worker_killed_mid_work_loses_nothing(
    own_deployment: Deployment, log_dir: Path, stack: CommonSettings
) -> None:
    deployment = own_deployment
    group = f"tests-recovery-{uuid.uuid4().hex[:8]}"
    doomed = deployment.worker(log_dir, group)
    doomed.start()
    await doomed.wait_ready()
    uploads = [
        await deployment.uploader.submit(data, name)
        for name, data in _distinct_images(uuid.uuid4().hex).items()
    ]
    await deployment.events.started()  # it is working on the first image now
    doomed.kill()

    successor = deployment.worker(log_dir, group)
    successor.start()
    await successor.wait_ready()
    outcomes = [await deployment.events.completed(u.image_id, within=900) for u in uploads]

    for upload, outcome in zip(uploads, outcomes, strict=True):
        assert outcome.task_id == upload.task_id
        assert not deployment.events.of(upload.image_id, ProcessingFailed)
        # Whatever was redone wrote the same objects again: one task, one set of results.
        completions = deployment.events.of(upload.image_id, ProcessingCompleted)
        keys = {tuple(sorted(r.key for r in c.results)) for c in completions}
        assert keys == {tuple(sorted(r.key for r in outcome.results))}
        assert (await deployment.uploader.result(outcome, "mask")).startswith(b"\x89PNG")
    restarted = deployment.events.of(uploads[0].image_id, ProcessingStarted)
    assert max(e.attempt for e in restarted) == 2, "the interrupted task counts as retried"
    topic = deployment.topics.uploaded
    assert await _wait_committed(stack, group, topic, len(uploads)) == len(uploads)


async def test_a_stopped_worker_finishes_its_batch_and_commits_it(
    own_deployment: Deployment, log_dir: Path, stack: CommonSettings
) -> None:
    deployment = own_deployment
    group = f"tests-stop-{uuid.uuid4().hex[:8]}"
    worker = deployment.worker(log_dir, group, CLEARCUT_PROCESSOR_SHUTDOWN_GRACE_S="300")
    worker.start()
    await worker.wait_ready()
    # A large photo keeps the worker busy for seconds after it started on it.
    large = Image.fromarray(samples.photo("coffee")).resize((6000, 4000), Image.Resampling.BILINEAR)
    image = samples.salted(samples.encode(large, "JPEG", quality=90), uuid.uuid4().hex)
    upload = await deployment.uploader.submit(image, "graceful")
    await deployment.events.started()
    assert not deployment.events.of(upload.image_id, ProcessingCompleted), "still in flight"

    assert await asyncio.to_thread(worker.stop, 360) == 0, worker.tail()

    # SIGTERM arrived while the image was in flight: it was finished, then committed.
    assert "tasks in flight" in worker.tail(200)
    assert await poll_until(
        lambda: bool(deployment.events.of(upload.image_id, ProcessingCompleted)), within=30
    )
    assert await _committed(stack, group, deployment.topics.uploaded) == 1
