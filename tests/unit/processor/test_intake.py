"""Records as consumed: contracts checked, dead letters, retries while the broker is down."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from schemas.events import ProcessingCompleted, ProcessingStarted
from services.common.envelope import encode
from services.processor.adapters.events import BrokerUnavailable, RawMessage
from services.processor.flow import FlowLimits
from tests.integration.conftest import EXAMPLES, uploaded_event
from tests.unit.processor.fakes import Harness, random_photo

COMPLETED = EXAMPLES / "ProcessingCompleted.json"


class Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, str | None]] = []
        self.failures = 0

    async def send(
        self, message: RawMessage, *, reason: str, error: str, field: str | None = None
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise BrokerUnavailable("down")
        self.sent.append((message.offset, reason, field))


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def harness(sink: Sink) -> Iterator[Harness]:
    h = Harness(dead_letters=sink, limits=FlowLimits(retry_initial_s=0.01, retry_max_s=0.02))
    yield h
    h.close()


def _raw(offset: int, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> RawMessage:
    return RawMessage("image.uploaded", 0, offset, 0, b"k", value, headers)


def _good(harness: Harness) -> RawMessage:
    record = encode(harness.upload(random_photo(offset := 1)), "/tests")
    return _raw(offset, record.value, record.headers)


async def test_bad_messages_are_dead_lettered_and_good_ones_processed(
    harness: Harness, sink: Sink
) -> None:
    good = _good(harness)
    wrong_type = encode(ProcessingCompleted.model_validate_json(COMPLETED.read_bytes()), "/tests")
    records = [
        _raw(0, b"not json", good.headers),
        good,
        _raw(2, wrong_type.value, wrong_type.headers),
        _raw(3, None, []),
    ]
    await asyncio.gather(*(harness.pipeline.submit(r) for r in records))
    assert sorted(sink.sent) == [
        (0, "undecodable", "value"),
        (2, "unexpected_type", "ce_type"),
        (3, "envelope_invalid", "ce_specversion"),
    ]
    assert len(harness.publisher.of(ProcessingCompleted)) == 1
    assert harness.metrics.dead_letters.labels("undecodable")._value.get() == 1


async def test_dead_lettering_waits_for_the_broker_and_happens_once(
    harness: Harness, sink: Sink
) -> None:
    sink.failures = 2
    record = encode(uploaded_event(), "/tests")
    await asyncio.gather(
        harness.pipeline.submit(_raw(0, b"{}", record.headers)),
        harness.pipeline.submit(_good(harness)),
    )
    assert [offset for offset, _, _ in sink.sent] == [0], "dead-lettered exactly once"
    assert len(harness.publisher.of(ProcessingCompleted)) == 1


async def test_the_record_attempt_reaches_the_started_event(harness: Harness) -> None:
    await harness.pipeline.submit(_good(harness), attempt=3)
    (started,) = harness.publisher.of(ProcessingStarted)
    assert started.attempt == 3
