"""Consumer-group offsets on the real broker: lag, resets to earliest, latest and a time,
and the refusal (or forced removal) of active members."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from schemas import utc_now
from services.common.kafka.admin import admin_client
from services.common.kafka.offsets import (
    GroupActive,
    OffsetsError,
    ResetKind,
    ResetTarget,
    describe_group,
    planned_offsets,
    reset_group,
)
from services.common.settings import CommonSettings
from tests.integration.conftest import poll_until


@dataclass
class Setup:
    kafka: CommonSettings
    topic: str
    group: str
    middle: datetime  # between the first 6 records and the last 4


async def consume(
    stack: CommonSettings, topic: str, group: str, *, within: float = 20.0
) -> list[bytes]:
    """Read as a member of ``group`` until no record comes for a moment; commit; leave."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        quiet = 0
        while quiet < 3 and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got = [r.value for records in batch.values() for r in records if r.value]
            values += got
            quiet = 0 if got or not consumer.assignment() else quiet + 1
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


@pytest.fixture
async def setup(stack: CommonSettings, unique: str) -> AsyncIterator[Setup]:
    topic, group = f"test.offsets.{unique}", f"test-offsets-{unique}"
    admin = admin_client(stack.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
    await producer.start()
    try:
        for i in range(6):
            await producer.send_and_wait(topic, f"early-{i}".encode(), key=str(i).encode())
        start = utc_now()
        assert await poll_until(lambda: utc_now() > start + timedelta(milliseconds=5), within=5)
        middle = utc_now()
        for i in range(4):
            await producer.send_and_wait(topic, f"late-{i}".encode(), key=str(i).encode())
    finally:
        await producer.stop()
    assert len(await consume(stack, topic, group)) == 10
    yield Setup(stack, topic, group, middle)


async def test_lag_and_resets_to_earliest_a_time_and_latest(setup: Setup) -> None:
    kafka = setup.kafka.kafka
    offsets = await describe_group(kafka, setup.group)
    assert offsets.state == "Empty" and offsets.members == []
    assert [p.partition.topic for p in offsets.partitions] == [setup.topic] * 2
    assert offsets.total_lag == 0 and sum(p.end for p in offsets.partitions) == 10

    dry = await reset_group(kafka, setup.group, ResetTarget(ResetKind.EARLIEST), dry_run=True)
    assert not dry.applied and sum(dry.offsets.values()) == 0
    assert (await describe_group(kafka, setup.group)).total_lag == 0

    await reset_group(kafka, setup.group, ResetTarget(ResetKind.EARLIEST))
    assert (await describe_group(kafka, setup.group)).total_lag == 10
    assert len(await consume(setup.kafka, setup.topic, setup.group)) == 10

    await reset_group(kafka, setup.group, ResetTarget(ResetKind.TIMESTAMP, setup.middle))
    assert (await describe_group(kafka, setup.group)).total_lag == 4
    again = await consume(setup.kafka, setup.topic, setup.group)
    assert sorted(again) == [f"late-{i}".encode() for i in range(4)], "exactly those after"

    await reset_group(kafka, setup.group, ResetTarget(ResetKind.EARLIEST))
    await reset_group(kafka, setup.group, ResetTarget(ResetKind.LATEST))
    assert (await describe_group(kafka, setup.group)).total_lag == 0

    future = ResetTarget(ResetKind.TIMESTAMP, utc_now() + timedelta(days=1))
    outcome = await reset_group(kafka, setup.group, future, dry_run=True)
    assert outcome.offsets == {p.partition: p.end for p in outcome.before.partitions}


async def test_a_group_with_members_is_refused_unless_forced(setup: Setup) -> None:
    kafka = setup.kafka.kafka
    member = AIOKafkaConsumer(
        setup.topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=setup.group,
        enable_auto_commit=False,
    )
    await member.start()
    seen: list[bytes] = []

    async def poll() -> None:
        while True:
            batch = await member.getmany(timeout_ms=200)
            seen.extend(r.value for records in batch.values() for r in records if r.value)

    polling = asyncio.create_task(poll())
    try:
        assert await poll_until(lambda: bool(member.assignment()), within=30)
        described = await describe_group(kafka, setup.group)
        assert described.state == "Stable" and len(described.members) == 1
        # A preview always works: it commits nothing.
        preview = await reset_group(
            kafka, setup.group, ResetTarget(ResetKind.EARLIEST), dry_run=True
        )
        assert not preview.applied and preview.removed_members == []
        assert set(preview.offsets.values()) == {0}
        dry = await asyncio.to_thread(
            run_cli, "reset", setup.group, "--to", "earliest", "--dry-run"
        )
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "dry run: nothing committed" in dry.stdout
        assert "1 active member(s)" in dry.stdout
        assert (await describe_group(kafka, setup.group)).total_lag == 0
        with pytest.raises(GroupActive, match="1 active member"):
            await reset_group(kafka, setup.group, ResetTarget(ResetKind.EARLIEST))
        assert (await describe_group(kafka, setup.group)).total_lag == 0

        outcome = await reset_group(kafka, setup.group, ResetTarget(ResetKind.EARLIEST), force=True)
        assert outcome.applied and len(outcome.removed_members) == 1
        # The member rejoins and reads everything again from the reset offsets.
        assert await poll_until(lambda: len(seen) >= 10, within=60), seen
        assert sorted(seen) == sorted(
            [f"early-{i}".encode() for i in range(6)] + [f"late-{i}".encode() for i in range(4)]
        )
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await member.stop()


async def test_unknown_topics_and_groups_without_offsets_are_explained(
    stack: CommonSettings, unique: str
) -> None:
    with pytest.raises(OffsetsError, match="no committed offsets"):
        await reset_group(stack.kafka, f"nobody-{unique}", ResetTarget(ResetKind.LATEST))
    with pytest.raises(OffsetsError, match="no such topic"):
        await describe_group(stack.kafka, f"nobody-{unique}", [f"missing.{unique}"])


def test_planned_offsets_fall_back_to_the_end_where_nothing_is_that_late() -> None:
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    at = ResetTarget(ResetKind.TIMESTAMP, utc_now())
    assert planned_offsets(at, {a: 0, b: 2}, {a: 5, b: 9}, {a: 3, b: None}) == {a: 3, b: 9}
    assert planned_offsets(ResetTarget(ResetKind.EARLIEST), {a: 0, b: 2}, {a: 5, b: 9}) == {
        a: 0,
        b: 2,
    }
    with pytest.raises(ValueError, match="timezone"):
        ResetTarget(ResetKind.TIMESTAMP, datetime(2026, 1, 1))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.replay", "offsets", *args],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_commands_show_lag_and_reset(setup: Setup) -> None:
    shown = await asyncio.to_thread(run_cli, "show", setup.group)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"group {setup.group}  state Empty  members: none" in shown.stdout
    assert "total lag 0" in shown.stdout

    reset = await asyncio.to_thread(run_cli, "reset", setup.group, "--to", "earliest")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "committed" in reset.stdout
    shown = await asyncio.to_thread(run_cli, "show", setup.group)
    assert "total lag 10" in shown.stdout

    bad = await asyncio.to_thread(run_cli, "reset", setup.group, "--to", "yesterday")
    assert bad.returncode == 2 and "earliest" in bad.stdout + bad.stderr

    misspelt = await asyncio.to_thread(run_cli, "show", setup.group + "x")
    assert misspelt.returncode == 1, misspelt.stdout
    assert f"knows no consumer group '{setup.group}x'" in misspelt.stdout
    assert f"did you mean {setup.group}" in misspelt.stdout.replace("\n", "")
