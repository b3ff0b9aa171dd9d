"""The event feed's start-up steps are retried with backoff until they work or it stops."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError

from services.notifier.adapters.event_feed import KafkaEventFeed


async def test_a_failing_step_is_retried_until_it_works(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise KafkaConnectionError("broker down")

    await KafkaEventFeed._retry(None, asyncio.Event(), "connect to Kafka", step)  # type: ignore[arg-type]
    assert calls == 3
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert [w.rsplit(" ", 1)[-1] for w in waits] == ["0.5s", "1.0s"]


async def test_stopping_ends_the_retries_quietly() -> None:
    stop = asyncio.Event()
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        stop.set()
        raise OSError("refused")

    await asyncio.wait_for(
        KafkaEventFeed._retry(None, stop, "find the event topics", step),  # type: ignore[arg-type]
        timeout=5,
    )
    assert calls == 1


async def test_a_bug_is_not_retried() -> None:
    async def step() -> None:
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        await KafkaEventFeed._retry(None, asyncio.Event(), "x", step)  # type: ignore[arg-type]
