"""The stack's life cycle: idempotent start, data kept across restarts, recovery after a kill.

These tests stop and kill components, so they run after every other test (``disruptive``).
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import uuid

import asyncpg
import pytest
from aiokafka.admin import NewTopic
from minio import Minio

from services.common.kafka.admin import admin_client
from services.common.settings import CommonSettings
from services.devstack.process import pid_alive, wait_until
from services.devstack.stack import components

pytestmark = pytest.mark.disruptive


def _clearcut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_up_on_a_running_stack_changes_nothing(stack: CommonSettings) -> None:
    before = {c.name: c.process.pid() for c in components(stack)}
    assert all(before.values()), f"not everything is running: {before}"
    result = _clearcut("stack", "up")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in before:
        assert f"{name}" in result.stdout
    assert result.stdout.count("already running") == len(before), result.stdout
    assert "0 created" in result.stdout
    after = {c.name: c.process.pid() for c in components(stack)}
    assert after == before, "a second `up` restarted something"


def _minio(stack: CommonSettings) -> Minio:
    s3 = stack.s3
    return Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        secure=s3.secure,
        region=s3.region,
    )


async def _topics(stack: CommonSettings) -> list[str]:
    admin = admin_client(stack.kafka)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def _create_topic(stack: CommonSettings, name: str) -> None:
    admin = admin_client(stack.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()


async def _pg(stack: CommonSettings, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def test_down_then_up_keeps_topics_objects_and_rows(stack: CommonSettings) -> None:
    marker = uuid.uuid4().hex[:12]
    topic = f"lifecycle.{marker}"
    asyncio.run(_create_topic(stack, topic))
    _minio(stack).put_object(stack.s3.bucket_originals, f"lifecycle/{marker}", io.BytesIO(b"x"), 1)
    table = f"lifecycle_{marker}"
    asyncio.run(_pg(stack, f"CREATE TABLE {table} (v text)"))
    asyncio.run(_pg(stack, f"INSERT INTO {table} VALUES ($1)", marker))

    down = _clearcut("stack", "down", "kafka", "minio", "postgres")
    assert down.returncode == 0, down.stdout + down.stderr
    assert all(c.process.pid() is None for c in components(stack, ["kafka", "minio", "postgres"]))
    up = _clearcut("stack", "up")
    assert up.returncode == 0, up.stdout + up.stderr

    assert topic in asyncio.run(_topics(stack))
    stat = _minio(stack).stat_object(stack.s3.bucket_originals, f"lifecycle/{marker}")
    assert stat.size == 1
    rows = asyncio.run(_pg(stack, f"SELECT v FROM {table}"))
    assert [r["v"] for r in rows] == [marker]
    asyncio.run(_pg(stack, f"DROP TABLE {table}"))


def test_a_killed_broker_is_recovered_by_up(stack: CommonSettings) -> None:
    (kafka,) = components(stack, ["kafka"])
    pid = kafka.process.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(pid), 30)
    assert kafka.process.pid() is None
    up = _clearcut("stack", "up", "kafka")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "started" in up.stdout
    assert kafka.status().healthy


def test_a_port_held_by_another_process_is_reported_not_fought(
    stack: CommonSettings, tmp_path: os.PathLike[str]
) -> None:
    # A second checkout's stack (own state dir) on the same ports must refuse to start.
    env = {**os.environ, "CLEARCUT_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "stack", "up", "minio"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert "minio" in result.stdout
    assert f"{stack.s3.port}" in result.stdout
    assert "already taken by another process" in result.stdout
