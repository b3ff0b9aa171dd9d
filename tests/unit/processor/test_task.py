"""Task decisions: keys, content index entries, events that pass their contracts, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.events import ImageUploaded
from schemas.values import (
    ExecutionProvider,
    FailureReason,
    ModelRef,
    ResultKind,
    ResultObject,
    Timings,
)
from services.common.envelope import decode, encode
from services.processor.domain import task as decide
from services.processor.domain.errors import Failure, ProcessingError, classify
from services.processor.domain.timing import Interval, Stage, StageTimes, build_timings
from tests.integration.conftest import uploaded_event

MODEL = ModelRef(name="isnet-general-use", version="1.4.5", sha256="a" * 64)
WHO = decide.Identity("host-1", MODEL, ExecutionProvider.CPU)


def _upload(**options: str) -> ImageUploaded:
    data = uploaded_event().model_dump()
    data["options"].update(options)
    return ImageUploaded.model_validate(data)


def _result(kind: ResultKind, key: str) -> ResultObject:
    return ResultObject(
        kind=kind,
        bucket="clearcut-results",
        key=key,
        size=10,
        content_type="image/png",
        width=4,
        height=3,
    )


def test_result_keys_are_stable_per_task_and_kind() -> None:
    upload = _upload()
    cutout = decide.result_key(upload, ResultKind.CUTOUT)
    assert cutout == f"{upload.image_id}/{upload.task_id}/cutout.png"
    assert decide.result_key(upload, ResultKind.MASK).endswith("/mask.png")
    assert decide.result_key(_upload(output_format="webp"), ResultKind.CUTOUT).endswith(".webp")
    assert decide.result_key(upload, ResultKind.CUTOUT) == cutout


def test_content_key_depends_on_bytes_model_output_options_and_owner() -> None:
    upload = _upload()
    key = decide.content_key(upload, MODEL.sha256)
    assert upload.original.sha256 in key and MODEL.sha256 in key
    other_upload_same_bytes = uploaded_event()
    assert decide.content_key(other_upload_same_bytes, MODEL.sha256) == key
    other_owner = upload.model_copy(update={"owner": f"not-{upload.owner}"})
    assert decide.content_key(other_owner, MODEL.sha256) != key
    assert decide.content_key(upload, "b" * 64) != key
    assert decide.content_key(_upload(output_format="webp"), MODEL.sha256) != key
    assert decide.content_key(_upload(background="#ffffff"), MODEL.sha256) != key


def test_stored_results_round_trip_and_garbage_reads_as_absent() -> None:
    stored = decide.StoredResults(
        "task-1", _result(ResultKind.CUTOUT, "i/t/cutout.png"), _result(ResultKind.MASK, "m")
    )
    assert decide.StoredResults.from_json(stored.to_json()) == stored
    assert decide.StoredResults.from_json(b"{not json") is None
    assert decide.StoredResults.from_json(b'{"task_id": "x"}') is None


def test_events_pass_their_contracts_on_the_wire() -> None:
    upload = _upload()
    timings = Timings(
        queue_wait_ms=1,
        download_ms=2,
        decode_ms=3,
        preprocess_ms=4,
        inference_ms=5,
        postprocess_ms=6,
        encode_ms=7,
        upload_ms=8,
        total_ms=40,
    )
    events = [
        decide.started(upload, 2, WHO),
        decide.completed(
            upload,
            2,
            WHO,
            results=[_result(ResultKind.CUTOUT, "c"), _result(ResultKind.MASK, "m")],
            batch_size=4,
            timings=timings,
            reused_from_task_id="task-0",
        ),
        decide.failed(
            upload,
            1,
            decide.Identity("host-1"),
            Failure(FailureReason.IMAGE_UNDECODABLE, "not an image", False),
        ),
    ]
    for event in events:
        record = encode(event, "/clearcut/processor")
        received = decode(record.value, record.headers).event
        assert received == event
        assert received.task_id == upload.task_id
        assert received.image_id == upload.image_id
        assert received.owner == upload.owner


def test_classification_of_failures() -> None:
    own = classify(ProcessingError(FailureReason.IMAGE_MISSING, "gone"))
    assert own == Failure(FailureReason.IMAGE_MISSING, "gone", False)
    assert classify(ProcessingError(FailureReason.STORAGE_UNAVAILABLE, "down")).retriable

    class Flaky(Exception):
        retriable = True

    flaky = classify(Flaky("connection refused"))
    assert (flaky.reason, flaky.retriable) == (FailureReason.STORAGE_UNAVAILABLE, True)
    bug = classify(KeyError("x"))
    assert (bug.reason, bug.retriable) == (FailureReason.INTERNAL, False)
    assert "KeyError" in bug.message
    assert len(classify(ProcessingError(FailureReason.INTERNAL, "x" * 5000)).message) == 2000


def test_timings_measure_from_the_upload_and_never_go_negative() -> None:
    occurred = datetime(2026, 1, 1, tzinfo=UTC)
    stages = StageTimes()
    stages.add(Interval(Stage.INFERENCE, 0, 900_000_000))
    stages.add(Interval(Stage.UPLOAD, 0, 5_000_000))
    stages.add(Interval(Stage.UPLOAD, 0, 5_000_000))
    timings = build_timings(
        stages,
        occurred_at=occurred,
        started_at=occurred - timedelta(seconds=1),  # a skewed clock
        stored_at=occurred + timedelta(seconds=2),
    )
    assert timings.queue_wait_ms == 0
    assert timings.inference_ms == 900
    assert timings.upload_ms == 10
    assert timings.download_ms == 0
    assert timings.total_ms == 2000


def test_measure_records_an_interval_even_when_the_block_fails() -> None:
    stages = StageTimes()
    try:
        with stages.measure(Stage.DECODE):
            raise ValueError("boom")
    except ValueError:
        pass
    assert [i.stage for i in stages.intervals] == [Stage.DECODE]
    assert stages.seconds[Stage.DECODE] >= 0
