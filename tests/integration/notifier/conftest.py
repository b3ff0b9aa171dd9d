"""Real notifier processes (``python -m services.notifier``) against the real stack, real
websocket clients, events produced to Kafka under this module's own topic prefix, and
read-model rows written with SQL in place of the projector (which also records each event
as applied and announces it at commit, as the projector does)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection

from schemas import Event, ProcessingCompleted, ProcessingFailed, ProcessingStarted, spec_for
from services.common.auth import create_key
from services.common.kafka.admin import create_topics, project_topics
from services.common.kafka.producer import EventPublisher, Published, create_producer
from services.common.read_api import APPLIED_CHANNEL, applied_payload
from services.common.settings import CommonSettings, TopicNames
from services.common.telemetry import Telemetry
from services.upload.migrations.runner import migrate

REPO = Path(__file__).resolve().parents[3]
UPLOAD_URL = "http://upload.test:8080"
PushedEvent = ProcessingStarted | ProcessingCompleted | ProcessingFailed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class NotifierProcess:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    async def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on /metrics (0 when it is not there yet)."""
        async with httpx.AsyncClient(base_url=self.http_url) as client:
            text = (await client.get("/metrics")).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.split()[-1])
        return 0.0

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def start_notifier(
    topics: TopicNames, log: Path, **settings: str | int | float
) -> NotifierProcess:
    port = free_port()
    env = dict(os.environ)
    env.update(
        CLEARCUT_TOPIC_PREFIX=topics.prefix,
        CLEARCUT_NOTIFIER_PORT=str(port),
        CLEARCUT_NOTIFIER_UPLOAD_PUBLIC_URL=UPLOAD_URL,
        CLEARCUT_OTEL_LOG_FORMAT="text",
    )
    env.update({f"CLEARCUT_NOTIFIER_{k.upper()}": str(v) for k, v in settings.items()})
    with open(log, "wb") as out:  # noqa: ASYNC230 - a local file, opened once
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.notifier",
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    notifier = NotifierProcess(process, port, log)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=notifier.http_url) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"notifier exited: {_tail(log)}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return notifier
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    await notifier.stop()
    raise RuntimeError(f"notifier not ready within 60 s: {_tail(log)}")


@pytest.fixture(scope="module")
async def notifier_topics(stack: CommonSettings) -> TopicNames:
    names = TopicNames(prefix=f"test.notifier.{uuid.uuid4().hex[:10]}.", partitions=2)
    await create_topics(stack.kafka, project_topics(names))
    return names


@pytest.fixture(scope="module")
async def pg(stack: CommonSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(stack.postgres.dsn, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="module")
async def notifier(
    notifier_topics: TopicNames, pg: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[NotifierProcess]:
    process = await start_notifier(
        notifier_topics,
        tmp_path_factory.mktemp("notifier") / "notifier-1.log",
        queue_size=16,
        unknown_image_grace_seconds=0.5,
        close_timeout_seconds=30,
        max_consecutive_errors=5,
        max_connections_per_owner=3,
    )
    try:
        yield process
    finally:
        await process.stop()


@pytest.fixture(scope="module")
async def second_notifier(
    notifier_topics: TopicNames, pg: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[NotifierProcess]:
    """Another replica, with a short heartbeat to show dead peers being dropped."""
    process = await start_notifier(
        notifier_topics,
        tmp_path_factory.mktemp("notifier") / "notifier-2.log",
        heartbeat_seconds=1.0,
        auth_timeout_seconds=2,
    )
    try:
        yield process
    finally:
        await process.stop()


class ProjectedPublisher(EventPublisher):
    """Publishes as the processor would, then applies the event as the projector would
    (`ReadModelRows.apply`), so the notifier may push it."""

    def __init__(self, producer: AIOKafkaProducer, topics: TopicNames, rows: ReadModelRows) -> None:
        super().__init__(producer, topics, source="/clearcut/processor")
        self.rows = rows

    async def publish(self, event: Any, *, ack_within: float | None = None) -> Published:
        published = await super().publish(event, ack_within=ack_within)
        await self.rows.apply(event, uploaded=True)
        return published

    async def publish_only(self, event: Any) -> Published:
        """Publish without applying: the projector has not got to it yet."""
        return await super().publish(event)


@pytest.fixture(scope="module")
async def publisher(
    stack: CommonSettings, notifier_topics: TopicNames, telemetry: Telemetry, pg: asyncpg.Pool
) -> AsyncIterator[ProjectedPublisher]:
    """Publishes and applies; sends carry a trace (telemetry is set up)."""
    producer: AIOKafkaProducer = create_producer(stack.kafka, "clearcut-notifier-tests")
    await producer.start()
    try:
        yield ProjectedPublisher(producer, notifier_topics, ReadModelRows(pg))
    finally:
        await producer.stop()


async def record_applied(conn: asyncpg.Connection, event: Event) -> bool:
    """What the projector adds to every applied event, inside its transaction: the
    applied-events record and the announcement (delivered at commit). False when the event
    was recorded before."""
    first = await conn.fetchval(
        "INSERT INTO applied_events (event_id, event_type, image_id, occurred_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING RETURNING true",
        event.event_id,
        spec_for(event).ce_type,
        event.image_id,
        event.occurred_at,
    )
    if first:
        await conn.execute(
            "SELECT pg_notify($1, $2)",
            APPLIED_CHANNEL,
            applied_payload(event.event_id, event.image_id),
        )
    return bool(first)


@dataclass
class Owner:
    name: str
    key: str


@pytest.fixture
async def make_owner(pg: asyncpg.Pool) -> Callable[[], Awaitable[Owner]]:
    async def make() -> Owner:
        name = f"owner-{uuid.uuid4().hex[:10]}"
        return Owner(name, await create_key(pg, name))

    return make


class ReadModelRows:
    """Writes what the projector would, so that snapshots have something to read."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def uploaded(self, image_id: str, owner: str, task_id: str) -> None:
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO images (id, owner, original_bucket, original_key, content_type,
                       size_bytes, width, height, sha256, status, current_task_id,
                       current_task_requested_at, uploaded_at, created_at, updated_at)
                   VALUES ($1, $2, 'clearcut-originals', $1, 'image/jpeg', 1000, 40, 30,
                       $3, 'queued', $4, $5, $5, $5, $5)""",
                image_id,
                owner,
                "0" * 64,
                task_id,
                now,
            )
            await conn.execute(
                """INSERT INTO processing_tasks (id, image_id, owner, status, attempt,
                       requested_at, created_at, updated_at)
                   VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)
                   ON CONFLICT (id) DO NOTHING""",
                task_id,
                image_id,
                owner,
                now,
            )

    async def apply(self, event: Event, *, uploaded: bool = False) -> None:
        """Apply ``event`` once: its rows (for a pushed event), its record, its
        announcement. ``uploaded``: first add the image's rows if they are missing (its
        upload was applied before, as it is for any image a processor works on)."""
        if uploaded and isinstance(event, PushedEvent):
            exists = await self._pool.fetchval("SELECT 1 FROM images WHERE id = $1", event.image_id)
            if not exists:
                await self.uploaded(event.image_id, event.owner, event.task_id)
        if not isinstance(event, PushedEvent):
            async with self._pool.acquire() as conn, conn.transaction():
                await record_applied(conn, event)
            return
        status = {
            ProcessingStarted: "processing",
            ProcessingCompleted: "completed",
            ProcessingFailed: "failed",
        }[type(event)]
        results = (
            json.dumps([r.model_dump(mode="json") for r in event.results])
            if isinstance(event, ProcessingCompleted)
            else None
        )
        error = (
            (event.reason.value, event.message, event.retriable)
            if isinstance(event, ProcessingFailed)
            else (None, None, None)
        )
        model = event.model
        async with self._pool.acquire() as conn, conn.transaction():
            if not await record_applied(conn, event):
                return
            await conn.execute(
                """UPDATE processing_tasks SET status = $2, attempt = $3, model_name = $4,
                       model_version = $5, provider = $6, results = $7::jsonb,
                       error_reason = $8, error_message = $9, error_retriable = $10,
                       updated_at = $11
                   WHERE id = $1""",
                event.task_id,
                status,
                event.attempt,
                model.name if model else None,
                model.version if model else None,
                event.provider.value if event.provider else None,
                results,
                *error,
                event.occurred_at,
            )
            await conn.execute(
                "UPDATE images SET status = $2, updated_at = $3 WHERE id = $1",
                event.image_id,
                status,
                event.occurred_at,
            )


@pytest.fixture
def rows(pg: asyncpg.Pool) -> ReadModelRows:
    return ReadModelRows(pg)


class WsClient:
    """A websocket client that keeps every message it received."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []
        self._seen = 0

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.connection.send(message if isinstance(message, str) else json.dumps(message))

    async def expect(
        self, check: Callable[[dict[str, Any]], bool], within: float = 15.0
    ) -> dict[str, Any]:
        """The next message (after those already matched) for which ``check`` holds."""
        deadline = time.monotonic() + within
        while True:
            for message in self.received[self._seen :]:
                self._seen += 1
                if check(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching message within {within} s: {self.received}")
            try:
                raw = await asyncio.wait_for(self.connection.recv(), remaining)
            except TimeoutError:
                continue
            self.received.append(json.loads(raw))

    async def expect_type(self, kind: str, within: float = 15.0) -> dict[str, Any]:
        return await self.expect(lambda m: m["type"] == kind, within)

    async def wait_events(self, count: int, within: float = 15.0) -> list[dict[str, Any]]:
        """Read until at least ``count`` events arrived in total."""
        if len(self.events()) < count:
            await self.expect(lambda _: len(self.events()) >= count, within)
        return self.events()

    async def roundtrip(self) -> list[dict[str, Any]]:
        """Everything received up to the answer of a ping sent now."""
        marker = uuid.uuid4().hex
        await self.send({"type": "ping", "request_id": marker})
        await self.expect(lambda m: m.get("request_id") == marker)
        return self.received

    def events(self, image_id: str | None = None) -> list[dict[str, Any]]:
        return [
            m["event"]
            for m in self.received
            if m["type"] == "event" and (image_id is None or m["image_id"] == image_id)
        ]

    async def close(self) -> None:
        await self.connection.close()


async def connect(
    notifier: NotifierProcess, key: str | None, *, query: str = "", **options: Any
) -> WsClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    connection = await websockets.connect(
        notifier.ws_url + query, additional_headers=headers, **options
    )
    return WsClient(connection)


async def connect_ready(notifier: NotifierProcess, key: str, **options: Any) -> WsClient:
    client = await connect(notifier, key, **options)
    await client.expect_type("welcome")
    return client
