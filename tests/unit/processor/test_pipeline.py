"""The batch use case against in-memory ports: outcomes, isolation, reuse, batching."""

from __future__ import annotations

import io
from collections.abc import Iterator
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
from services.processor.adapters.events import BrokerUnavailable
from services.processor.taskrun import Inbound
from tests.unit.processor import samples
from tests.unit.processor.fakes import ORIGINALS, RESULTS, Harness, random_photo


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


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


async def test_missing_original_is_final_and_unreachable_store_retriable(
    harness: Harness,
) -> None:
    missing, flaky = harness.upload(random_photo(4)), harness.upload(random_photo(5))
    del harness.store.objects[ORIGINALS, missing.original.key]
    harness.store.unavailable.add((ORIGINALS, flaky.original.key))
    await harness.pipeline.process(_inbound(missing, flaky))
    (gone,) = harness.publisher.of(ProcessingFailed, missing.image_id)
    assert (gone.reason, gone.retriable) == (FailureReason.IMAGE_MISSING, False)
    (down,) = harness.publisher.of(ProcessingFailed, flaky.image_id)
    assert (down.reason, down.retriable) == (FailureReason.STORAGE_UNAVAILABLE, True)


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


async def test_redelivered_task_counts_its_attempt(harness: Harness) -> None:
    upload = harness.upload(random_photo(11))
    await harness.pipeline.process(_inbound(upload))
    await harness.pipeline.process(_inbound(upload))
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
        # [a, b] runs as a batch; [c, black] fails as a batch, then c runs alone.
        assert model.batches == [2, 1]
        sizes = [
            harness.publisher.of(ProcessingCompleted, u.image_id)[0].batch_size for u in uploads[:3]
        ]
        assert sizes == [2, 2, 1]
        (failed,) = harness.publisher.of(ProcessingFailed, uploads[3].image_id)
        assert failed.reason is FailureReason.MODEL_ERROR
    finally:
        harness.close()


async def test_an_unavailable_broker_escapes_so_the_batch_is_not_acknowledged(
    harness: Harness,
) -> None:
    harness.publisher.broken = True
    with pytest.raises(BrokerUnavailable):
        await harness.pipeline.process(_inbound(harness.upload(random_photo(12))))
