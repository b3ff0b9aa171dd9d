"""A broker outage seen by a real projector process: its log gets a few lines, not a flood.

The projector runs in a network namespace of its own whose 127.0.0.1:9092 and :5433 are
bridged to the shared broker and PostgreSQL (`tests.integration.netbridge`). Killing the
Kafka bridge inside the namespace is, for the projector, the broker going away: connections
drop and new ones are refused. The shared broker itself is never touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.common.kafka.producer import EventPublisher
from services.common.settings import REPO_ROOT, CommonSettings, TopicNames
from services.upload.adapters.postgres import connect as pg_connect
from services.upload.migrations.runner import migrate
from tests.integration.conftest import uploaded_event

pytestmark = pytest.mark.timeout(600)

OUTAGE_S = 20.0
REPEAT_WINDOW_S = 5.0


@dataclass
class Namespace:
    name: str
    sockets: Path

    def exec(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]


def _bridge(argv: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*argv], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", line
    return process


def _inner_bridge(ns: Namespace, port: int, name: str) -> subprocess.Popen[str]:
    bridge = [sys.executable, "-m", "tests.integration.netbridge"]
    return _bridge(ns.exec(*bridge, "tcp-to-unix", "127.0.0.1", str(port), str(ns.sockets / name)))


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(10)


@pytest.fixture
def namespace(stack: CommonSettings, tmp_path: Path) -> Iterator[Namespace]:
    assert os.geteuid() == 0, "this test makes a network namespace: run it as root"
    ns = Namespace(f"cc-{uuid.uuid4().hex[:8]}", tmp_path)
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        subprocess.run(ns.exec("ip", "link", "set", "lo", "up"), check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "delete", ns.name], check=False)


@pytest.fixture
async def pg(stack: CommonSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await pg_connect(stack.postgres)
    await migrate(conn)
    try:
        yield conn
    finally:
        await conn.close()


def _warnings(log: Path, after: int) -> list[dict[str, object]]:
    lines = log.read_text().splitlines()[after:]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if r.get("level") in ("WARNING", "ERROR", "CRITICAL")]


async def test_a_broker_outage_writes_a_few_lines_and_the_projector_carries_on(
    stack: CommonSettings,
    topics: TopicNames,
    producer: AIOKafkaProducer,
    pg: asyncpg.Connection,
    namespace: Namespace,
    tmp_path: Path,
) -> None:
    kafka, postgres = stack.kafka.port, stack.postgres.port
    bridge = [sys.executable, "-m", "tests.integration.netbridge", "unix-to-tcp"]
    outer = [
        _bridge([*bridge, str(namespace.sockets / "kafka"), "127.0.0.1", str(kafka)]),
        _bridge([*bridge, str(namespace.sockets / "pg"), "127.0.0.1", str(postgres)]),
    ]
    inner_pg = _inner_bridge(namespace, postgres, "pg")
    inner_kafka = _inner_bridge(namespace, kafka, "kafka")
    log = tmp_path / "projector.log"
    env = {
        **os.environ,
        "CLEARCUT_TOPIC_PREFIX": topics.prefix,
        "CLEARCUT_UPLOAD_PROJECTOR_GROUP": f"tests-outage-{uuid.uuid4().hex[:8]}",
        "CLEARCUT_UPLOAD_PROJECTOR_METRICS_PORT": "0",
        "CLEARCUT_OTEL_ENABLED": "false",
        "CLEARCUT_OTEL_LOG_FORMAT": "json",
        "CLEARCUT_OTEL_LOG_FILE": str(log),
        "CLEARCUT_OTEL_LOG_REPEAT_WINDOW_SECONDS": str(REPEAT_WINDOW_S),
    }
    projector = subprocess.Popen(  # noqa: ASYNC220 - returns at once; runs beside the test
        namespace.exec(sys.executable, "-m", "services.cli.main", "projector"),
        cwd=REPO_ROOT,
        env=env,
        stdout=(tmp_path / "projector.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    publisher = EventPublisher(producer, topics, source="/clearcut/upload")

    async def projected(image_id: str, within: float) -> bool:
        async def row() -> bool:
            return bool(await pg.fetchval("SELECT count(*) FROM images WHERE id = $1", image_id))

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await row():
                return True
            await asyncio.sleep(0.2)
        return False

    try:
        first = uploaded_event()
        await publisher.publish(first)
        assert await projected(first.image_id, 120), (tmp_path / "projector.out").read_text()
        before = len(log.read_text().splitlines())

        _stop(inner_kafka)  # the broker is gone for the projector
        await asyncio.sleep(OUTAGE_S)
        inner_kafka = _inner_bridge(namespace, kafka, "kafka")

        second = uploaded_event()
        await publisher.publish(second)
        assert await projected(second.image_id, 180), "the projector did not recover"
        assert projector.poll() is None, "the projector must outlive the outage"

        lines = _warnings(log, before)
        held = sum(int(str(r.get("repeated", 0))) for r in lines)
        print(f"outage {OUTAGE_S:.0f} s: {len(lines)} warning/error lines, {held} held back")
        # A handful of distinct messages, each at most once per window, not thousands.
        assert 0 < len(lines) <= 4 * (OUTAGE_S / REPEAT_WINDOW_S + 1) * 2, [
            r["message"] for r in lines
        ]
        assert held > len(lines), "the outage repeated its errors; the repeats were counted"
    finally:
        projector.terminate()
        try:
            projector.wait(20)
        except subprocess.TimeoutExpired:
            projector.kill()
            projector.wait(10)
        for process in [inner_kafka, inner_pg, *outer]:
            _stop(process)
