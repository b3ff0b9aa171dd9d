"""Fixtures for tests against the real broker: per-test topics and a process-wide tracer."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas import ImageUploaded
from services.common.kafka.admin import create_topics, project_topics
from services.common.kafka.producer import create_producer
from services.common.settings import CommonSettings, TopicNames
from services.common.telemetry import Telemetry, setup_telemetry

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"


@pytest.fixture(scope="session")
def telemetry(stack: CommonSettings) -> Telemetry:
    """One tracer provider for the test process (OpenTelemetry allows one per process)."""
    return setup_telemetry(f"clearcut-tests-{uuid.uuid4().hex[:8]}", stack.telemetry)


@pytest.fixture
async def topics(stack: CommonSettings, unique: str) -> TopicNames:
    """The project's topics under a prefix of this test's own."""
    names = TopicNames(prefix=f"test.{unique}.", partitions=1)
    await create_topics(stack.kafka, project_topics(names))
    return names


@pytest.fixture
async def producer(stack: CommonSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = create_producer(stack.kafka, "clearcut-tests")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def uploaded_event() -> ImageUploaded:
    """A fresh, valid ImageUploaded with new ids, based on the checked-in example."""
    data = json.loads((EXAMPLES / "ImageUploaded.json").read_text())
    data.update(event_id=str(uuid.uuid4()), image_id=str(uuid.uuid4()))
    return ImageUploaded.model_validate(data)


async def poll_until(check: Callable[[], bool], within: float = 30.0) -> bool:
    """Poll ``check`` until it holds or ``within`` seconds pass; never a fixed sleep."""
    deadline = time.monotonic() + within
    for _ in itertools.count():
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return False


def stack_command(*args: str) -> None:
    """Run ``clearcut stack ARGS`` (e.g. ``down minio``) and insist that it succeeded."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "stack", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def group_member_count(stack: CommonSettings, group: str) -> int:
    """How many members the broker counts in consumer group ``group`` right now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap_servers)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        members: list[object] = response.groups[0][5]
        return len(members)
    finally:
        await admin.close()
