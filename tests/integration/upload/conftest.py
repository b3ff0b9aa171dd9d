"""Fixtures for the upload service against the real stack: a migrated database, the API
in-process (real PostgreSQL, MinIO and Kafka behind it) on topics of its own, and owners."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from minio import Minio
from prometheus_client import CollectorRegistry

from services.common.auth import create_key
from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import CommonSettings, RetentionSettings, TopicNames
from services.common.telemetry import Telemetry
from services.upload.adapters.blob_store import create_minio
from services.upload.adapters.postgres import connect, create_pool
from services.upload.api.app import create_app
from services.upload.composition import Services
from services.upload.migrations.runner import migrate
from services.upload.settings import UploadSettings

MAX_BODY = 1024 * 1024
KEEP_FOR_GOOD = RetentionSettings(originals_hours=24 * 365 * 100, results_days=365 * 100)


@dataclass(frozen=True)
class Owner:
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    common: CommonSettings
    settings: UploadSettings

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services


@pytest.fixture(scope="session")
async def pg_pool(stack: CommonSettings) -> AsyncIterator[asyncpg.Pool]:
    conn = await connect(stack.postgres)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(stack.postgres, 1, 5)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def minio(stack: CommonSettings) -> Minio:
    return create_minio(stack.s3, 4)


async def new_topics(stack: CommonSettings) -> TopicNames:
    names = TopicNames(prefix=f"test.upload.{uuid.uuid4().hex[:12]}.", partitions=1)
    await create_topics(stack.kafka, project_topics(names))
    return names


@pytest.fixture(scope="module")
async def upload_topics(stack: CommonSettings) -> TopicNames:
    return await new_topics(stack)


@pytest.fixture(scope="module")
async def api(
    stack: CommonSettings,
    upload_topics: TopicNames,
    telemetry: Telemetry,
    pg_pool: asyncpg.Pool,
) -> AsyncIterator[Api]:
    # The tests' events happened at fixed times long ago: keep what they stored for good.
    common = stack.model_copy(update={"topics": upload_topics, "retention": KEEP_FOR_GOOD})
    settings = UploadSettings(max_body_bytes=MAX_BODY, publish_timeout_seconds=10)
    registry = CollectorRegistry()
    app = create_app(settings, common, telemetry=telemetry, registry=registry, sweep=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://upload.test", timeout=30
        ) as client,
    ):
        yield Api(client, app, common, settings)


@pytest.fixture
async def owner(pg_pool: asyncpg.Pool, unique: str) -> Owner:
    name = f"owner-{unique}"
    return Owner(name, await create_key(pg_pool, name))


@pytest.fixture
async def other_owner(pg_pool: asyncpg.Pool, unique: str) -> Owner:
    name = f"other-{unique}"
    return Owner(name, await create_key(pg_pool, name))
