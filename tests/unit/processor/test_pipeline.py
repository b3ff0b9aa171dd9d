"""The flow against in-memory ports: outcomes, isolation, reuse, batching, outages."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from schemas.events import (
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
)
from schemas.values import FailureReason, ResultKind
from services.processor.flow import FlowLimits
from services.processor.taskrun import Inbound
from tests.integration.conftest import poll_until
from tests.unit.processor import samples
from tests.unit.processor.fakes import ORIGINALS, RESULTS, Harness, random_photo


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


async def poll(condition: Callable[[], bool]) -> None:
    assert await poll_until(condition, within=10)


def _inbound(*uploads: ImageUploaded) -> list[Inbound]:
    return [Inbound(u, [], datetime.now(UTC)) for u in uploads]


async def test_a_batch_completes_with_results_under_the_task(harness: Harness) -> None:
    first, second = (
        harness.upload(random_photo(1)),
        harness.upload(random_photo(2), output_format="webp"),
    )
    await harness.pipeline.process(_inbound(first, second))

    assert [type(e) for e in harness.publisher.of(object, first.image_id)] == [
        ProcessingStarted,
        ProcessingCompleted,
    ]
    (started,) = harness.publisher.of(ProcessingStarted, first.image_id)
    assert (started.attempt, started.worker_id, started.provider) == (1, "worker-1", "cpu")
    assert started.model.name == "default-model"
    for upload, fmt in ((first, "PNG"), (second, "WEBP")):
        (done,) = harness.publisher.of(ProcessingCompleted, upload.image_id)
        assert done.task_id == upload.task_id and done.reused_from_task_id is None
        assert done.batch_size == 1
        assert done.timings.inference_ms > 0 and done.timings.total_ms > 0
        by_kind = {r.kind: r for r in done.results}
        cutout = harness.store.objects[RESULTS, by_kind[ResultKind.CUTOUT].key]
        mask = harness.store.objects[RESULTS, by_kind[ResultKind.MASK].key]
        assert by_kind[ResultKind.CUTOUT].key.startswith(f"{upload.image_id}/{upload.task_id}/")
        assert by_kind[ResultKind.CUTOUT].size == len(cutout)
        assert Image.open(io.BytesIO(cutout)).format == fmt
        assert Image.open(io.BytesIO(mask)).mode == "L"
        assert (by_kind[ResultKind.MASK].width, by_kind[ResultKind.MASK].height) == (32, 24)
    assert harness.models["default-model"].batches == [1, 1]


async def test_one_bad_image_fails_alone(harness: Harness) -> None:
    bad, good = harness.upload(b"\x89PNG\r\n\x1a\n not really"), harness.upload(random_photo(3))
    await harness.pipeline.process(_inbound(bad, good))
    (failed,) = harness.publisher.of(ProcessingFailed, bad.image_id)
    assert failed.reason is FailureReason.IMAGE_UNDECODABLE
    assert failed.retriable is False
    assert failed.model is not None and failed.provider == "cpu"
    assert harness.publisher.of(ProcessingCompleted, good.image_id)
    assert not harness.publisher.of(ProcessingCompleted, bad.image_id)


async def test_missing_original_is_final_and_an_outage_is_waited_out(
    harness: Harness,
) -> None:
    missing, flaky = harness.upload(random_photo(4)), harness.upload(random_photo(5))
    del harness.store.objects[ORIGINALS, missing.original.key]
    harness.store.unavailable.add((ORIGINALS, flaky.original.key))
    running = asyncio.ensure_future(harness.pipeline.process(_inbound(missing, flaky)))
    await poll(lambda: harness.pipeline.waiting_on_dependency == 1)
    (gone,) = harness.publisher.of(ProcessingFailed, missing.image_id)
    assert (gone.reason, gone.retriable) == (FailureReason.IMAGE_MISSING, False)
    assert not running.done(), "a task whose store is down waits, it does not fail"
    assert harness.pipeline.outage_seconds() > 0
    harness.store.unavailable.clear()
    await asyncio.wait_for(running, 10)
    assert not harness.publisher.of(ProcessingFailed, flaky.image_id)
    assert harness.publisher.of(ProcessingCompleted, flaky.image_id)
    assert harness.pipeline.waiting_on_dependency == 0
    assert len(harness.publisher.of(ProcessingStarted, flaky.image_id)) == 1, "told once"


async def test_an_outage_past_the_deadline_is_a_final_failure_that_says_so() -> None:
    harness = Harness(limits=FlowLimits(retry_initial_s=0.01, retry_deadline_s=0.05))
    try:
        upload = harness.upload(random_photo(5))
        harness.store.unavailable.add((ORIGINALS, upload.original.key))
        await asyncio.wait_for(harness.pipeline.process(_inbound(upload)), 10)
        (failed,) = harness.publisher.of(ProcessingFailed, upload.image_id)
        assert failed.reason is FailureReason.STORAGE_UNAVAILABLE
        assert failed.retriable is False
        assert failed.message.startswith("gave up after")
    finally:
        harness.close()


async def test_unknown_model_fails_before_starting(harness: Harness) -> None:
    upload = harness.upload(random_photo(6), model="no-such-model")
    await harness.pipeline.process(_inbound(upload))
    assert not harness.publisher.of(ProcessingStarted)
    (failed,) = harness.publisher.of(ProcessingFailed)
    assert failed.reason is FailureReason.MODEL_UNKNOWN and failed.model is None


async def test_a_named_model_is_used(harness: Harness) -> None:
    upload = harness.upload(random_photo(6), model="other-model")
    await harness.pipeline.process(_inbound(upload))
    (done,) = harness.publisher.of(ProcessingCompleted)
    assert done.model.name == "other-model"
    assert harness.models["other-model"].batches == [1]
    assert harness.models["default-model"].batches == []


async def test_same_bytes_and_model_reuse_results_without_inference(harness: Harness) -> None:
    data = random_photo(7)
    first, again = harness.upload(data), harness.upload(data)
    await harness.pipeline.process(_inbound(first))
    await harness.pipeline.process(_inbound(again))
    assert harness.models["default-model"].batches == [1]
    (reused,) = harness.publisher.of(ProcessingCompleted, again.image_id)
    assert reused.reused_from_task_id == first.task_id
    assert reused.timings.inference_ms == 0
    (original,) = harness.publisher.of(ProcessingCompleted, first.image_id)
    for a, b in zip(original.results, reused.results, strict=True):
        assert b.key.startswith(f"{again.image_id}/{again.task_id}/")
        assert harness.store.objects[RESULTS, a.key] == harness.store.objects[RESULTS, b.key]
        assert (a.size, a.width, a.height) == (b.size, b.width, b.height)


async def test_other_options_do_not_reuse(harness: Harness) -> None:
    data = random_photo(8)
    await harness.pipeline.process(_inbound(harness.upload(data)))
    await harness.pipeline.process(_inbound(harness.upload(data, background="#00ff00")))
    assert harness.models["default-model"].batches == [1, 1]


async def test_repeats_within_one_batch_run_once(harness: Harness) -> None:
    data = random_photo(9)
    uploads = [harness.upload(data) for _ in range(3)]
    await harness.pipeline.process(_inbound(*uploads))
    assert harness.models["default-model"].batches == [1]
    completed = harness.publisher.of(ProcessingCompleted)
    assert sorted(e.reused_from_task_id or "" for e in completed) == sorted(
        ["", uploads[0].task_id, uploads[0].task_id]
    )


async def test_stale_index_runs_the_model_again(harness: Harness) -> None:
    data = random_photo(10)
    first = harness.upload(data)
    await harness.pipeline.process(_inbound(first))
    for result in harness.publisher.of(ProcessingCompleted)[0].results:
        del harness.store.objects[RESULTS, result.key]
    second = harness.upload(data)
    await harness.pipeline.process(_inbound(second))
    (done,) = harness.publisher.of(ProcessingCompleted, second.image_id)
    assert done.reused_from_task_id is None
    assert harness.models["default-model"].batches == [1, 1]


async def test_the_attempt_of_the_record_is_reported(harness: Harness) -> None:
    upload = harness.upload(random_photo(11))
    await harness.pipeline.process(_inbound(upload))
    await harness.pipeline.process([Inbound(upload, [], datetime.now(UTC), attempt=2)])
    attempts = [e.attempt for e in harness.publisher.of(ProcessingStarted)]
    assert attempts == [1, 2]
    second = harness.publisher.of(ProcessingCompleted)[1]
    assert second.attempt == 2
    assert second.reused_from_task_id == upload.task_id  # its own results are already there


async def test_batches_follow_the_model_limit_and_isolate_a_breaking_image() -> None:
    harness = Harness(max_batch=2, reuse=False)
    try:
        black = samples.png(np.zeros((8, 8, 3), np.uint8))
        uploads = [harness.upload(random_photo(20 + i)) for i in range(3)] + [harness.upload(black)]
        await harness.pipeline.process(_inbound(*uploads))
        model = harness.models["default-model"]
        # Images are paired in the order they are prepared, which the CPU pool decides; a
        # batch holding the black image fails and its images run one by one, so only the
        # black one fails and every good image is in exactly one successful run.
        assert sum(model.batches) == 3 and max(model.batches) <= 2
        sizes = [
            harness.publisher.of(ProcessingCompleted, u.image_id)[0].batch_size for u in uploads[:3]
        ]
        assert sorted(sizes) == sorted(n for n in model.batches for _ in range(n))
        (failed,) = harness.publisher.of(ProcessingFailed, uploads[3].image_id)
        assert failed.reason is FailureReason.MODEL_ERROR
    finally:
        harness.close()


async def test_an_unavailable_broker_holds_the_task_until_it_returns(harness: Harness) -> None:
    harness.publisher.broken = True
    upload = harness.upload(random_photo(12))
    running = asyncio.ensure_future(harness.pipeline.process(_inbound(upload)))
    await poll(lambda: harness.pipeline.waiting_on_dependency == 1)
    assert not running.done() and not harness.publisher.events
    harness.publisher.broken = False
    await asyncio.wait_for(running, 10)
    assert [type(e) for e in harness.publisher.of(object, upload.image_id)] == [
        ProcessingStarted,
        ProcessingCompleted,
    ]


async def test_batches_form_from_what_is_prepared_meanwhile() -> None:
    # A generous delay: a batch waits for images still being prepared, never for nothing.
    harness = Harness(max_batch=4, reuse=False, limits=FlowLimits(max_delay_s=1.0))
    try:
        uploads = [harness.upload(random_photo(40 + i)) for i in range(12)]
        await asyncio.wait_for(harness.pipeline.process(_inbound(*uploads)), 30)
        batches = harness.models["default-model"].batches
        assert sum(batches) == 12 and max(batches) > 1, batches
        assert len(harness.publisher.of(ProcessingCompleted)) == 12
    finally:
        harness.close()


async def test_a_lone_image_is_not_held_back_for_a_batch() -> None:
    harness = Harness(max_batch=4, limits=FlowLimits(max_delay_s=30.0))
    try:
        upload = harness.upload(random_photo(60))
        await asyncio.wait_for(harness.pipeline.process(_inbound(upload)), 10)
        assert harness.models["default-model"].batches == [1]
    finally:
        harness.close()


async def test_room_shrinks_with_admitted_tasks_and_comes_back() -> None:
    harness = Harness(limits=FlowLimits(max_in_flight=2, max_decoded=1))
    try:
        harness.publisher.broken = True  # the tasks stay in flight
        uploads = [harness.upload(random_photo(70 + i)) for i in range(2)]
        tasks = [harness.pipeline.submit_upload(i) for i in _inbound(*uploads)]
        assert harness.pipeline.room == 0
        waiting = asyncio.ensure_future(harness.pipeline.wait_for_room())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        harness.publisher.broken = False
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await asyncio.wait_for(waiting, 1)
        assert harness.pipeline.room == 2
    finally:
        harness.close()
