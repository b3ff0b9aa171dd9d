"""A batch of raw messages: contracts checked, dead letters, retries while the broker is down,
and the gate that lets shutdown finish or abandon the batch in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from schemas.events import ProcessingCompleted
from services.common.envelope import encode
from services.processor.adapters.events import BrokerUnavailable, RawMessage
from services.processor.batches import BatchHandler
from services.processor.lifecycle import BatchGate
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
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


def _raw(offset: int, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> RawMessage:
    return RawMessage("image.uploaded", 0, offset, 0, b"k", value, headers)


def _good(harness: Harness) -> RawMessage:
    record = encode(harness.upload(random_photo(offset := 1)), "/tests")
    return _raw(offset, record.value, record.headers)


async def test_bad_messages_are_dead_lettered_and_good_ones_processed(harness: Harness) -> None:
    sink = Sink()
    handler = BatchHandler(lambda: harness.pipeline, lambda: sink, harness.metrics)
    good = _good(harness)
    wrong_type = encode(ProcessingCompleted.model_validate_json(COMPLETED.read_bytes()), "/tests")
    await handler.handle(
        [
            _raw(0, b"not json", good.headers),
            good,
            _raw(2, wrong_type.value, wrong_type.headers),
            _raw(3, None, []),
        ]
    )
    assert sink.sent == [
        (0, "undecodable", "value"),
        (2, "unexpected_type", "ce_type"),
        (3, "envelope_invalid", "ce_specversion"),
    ]
    assert len(harness.publisher.of(ProcessingCompleted)) == 1


async def test_the_batch_is_retried_while_the_broker_is_down(harness: Harness) -> None:
    sink = Sink()
    sink.failures = 2
    handler = BatchHandler(
        lambda: harness.pipeline, lambda: sink, harness.metrics, first_backoff_s=0.01
    )
    record = encode(uploaded_event(), "/tests")
    await handler.handle([_raw(0, b"{}", record.headers), _good(harness)])
    assert [offset for offset, _, _ in sink.sent] == [0], "dead-lettered exactly once"
    assert len(harness.publisher.of(ProcessingCompleted)) == 1


async def test_gate_runs_batches_and_drain_waits_for_the_one_in_flight() -> None:
    gate = BatchGate()
    release = asyncio.Event()
    done: list[str] = []

    async def batch() -> None:
        await release.wait()
        done.append("batch")

    running = asyncio.create_task(gate.run(batch()))
    await asyncio.sleep(0)
    draining = asyncio.create_task(gate.drain(5.0))
    await asyncio.sleep(0)
    assert gate.closing and not draining.done()
    release.set()
    assert await draining is True
    assert await running is True
    assert done == ["batch"]

    async def refused() -> None:
        done.append("late")

    assert await gate.run(refused()) is False
    assert done == ["batch"]


async def test_drain_abandons_a_batch_that_overruns_its_grace() -> None:
    gate = BatchGate()
    acked: list[int] = []

    async def stuck() -> None:
        await asyncio.Event().wait()
        acked.append(1)

    running = asyncio.create_task(gate.run(stuck()))
    await asyncio.sleep(0)
    assert await gate.drain(0.05) is False
    assert await running is False
    assert acked == [], "an abandoned batch is never acknowledged"
