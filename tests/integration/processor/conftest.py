"""Fixtures for the processor against the real stack and the real ISNet model."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from minio import Minio

from services.common.kafka.admin import create_topics, project_topics
from services.common.kafka.producer import create_producer
from services.common.settings import CommonSettings, TopicNames
from services.processor.adapters.s3client import s3_client
from tests.integration.processor.harness import EventLog, Uploader, WorkerProcess


@pytest.fixture(scope="session")
def s3(stack: CommonSettings) -> Minio:
    return s3_client(stack.s3)


async def new_topics(stack: CommonSettings) -> TopicNames:
    names = TopicNames(prefix=f"test.proc.{uuid.uuid4().hex[:10]}.", partitions=1)
    await create_topics(stack.kafka, project_topics(names))
    return names


class Deployment:
    """One set of topics with a worker, an uploader and an event log."""

    def __init__(self, topics: TopicNames, uploader: Uploader, events: EventLog) -> None:
        self.topics = topics
        self.uploader = uploader
        self.events = events
        self.workers: list[WorkerProcess] = []

    def worker(self, log_dir: Path, app_id: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            self.topics, app_id, log_dir / f"worker-{len(self.workers)}.log", **env
        )
        self.workers.append(worker)
        return worker


@contextlib.asynccontextmanager
async def deploy(stack: CommonSettings, s3: Minio) -> AsyncIterator[Deployment]:
    topics = await new_topics(stack)
    producer = create_producer(stack.kafka, "clearcut-tests")
    await producer.start()
    events = EventLog(stack, topics)
    await events.start()
    deployed = Deployment(topics, Uploader(s3, stack, producer, topics), events)
    try:
        yield deployed
    finally:
        for worker in deployed.workers:
            worker.stop()
        await events.stop()
        await producer.stop()


@pytest.fixture(scope="module")
async def deployment(stack: CommonSettings, s3: Minio) -> AsyncIterator[Deployment]:
    """Topics, uploader and event log shared by the tests of a module."""
    async with deploy(stack, s3) as deployed:
        yield deployed


@pytest.fixture
async def own_deployment(stack: CommonSettings, s3: Minio) -> AsyncIterator[Deployment]:
    """Topics, uploader and event log of one test."""
    async with deploy(stack, s3) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("processor-logs")
