"""`projection rebuild` against real Kafka and PostgreSQL, in a read model of its own: the
rebuilt tables equal, row for row, those the live projector built, while it keeps running."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import RecordsToDelete

from schemas import Event
from services.common.kafka.admin import admin_client, create_topics, project_topics
from services.common.kafka.producer import EventPublisher
from services.common.settings import CommonSettings, TopicNames
from services.upload.adapters.postgres import connect, create_pool
from services.upload.projector.projection import Projection
from services.upload.projector.rebuild import RebuildError, rebuild_read_model
from services.upload.projector.runner import run_projector
from services.upload.projector.staging import NON_CONTENT_COLUMNS, READ_MODEL_TABLES
from services.upload.settings import UploadSettings
from tests.integration.upload.isolated import SchemaPostgresSettings, isolated_schema
from tests.unit.upload import events as ev
from tests.unit.upload.histories import histories


@dataclass
class Live:
    """A read model of the test's own, kept by a live projector on topics of its own."""

    common: CommonSettings
    pg: SchemaPostgresSettings
    conn: asyncpg.Connection
    publisher: EventPublisher
    published: int = 0

    async def publish(self, events: list[Event]) -> None:
        for event in events:
            await self.publisher.publish(event)
        self.published += len(events)

    async def applied(self) -> int:
        count: int = await self.conn.fetchval("SELECT count(*) FROM applied_events")
        return count

    async def wait_applied(self, expected: int, within: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while (found := await self.applied()) != expected:
            assert asyncio.get_running_loop().time() < deadline, (
                f"the live projector applied {found} of {expected} events"
            )
            await asyncio.sleep(0.1)

    async def dump(self) -> dict[str, list[str]]:
        """Every table's content columns, one JSON line per row, sorted."""
        dumped: dict[str, list[str]] = {}
        for table in READ_MODEL_TABLES:
            rows = await self.conn.fetch(f"SELECT * FROM {table}")
            skip = NON_CONTENT_COLUMNS.get(table, ())
            dumped[table] = sorted(
                json.dumps({k: v for k, v in dict(r).items() if k not in skip}, default=str)
                for r in rows
            )
        return dumped


@pytest.fixture
async def live(
    stack: CommonSettings, producer: AIOKafkaProducer, unique: str
) -> AsyncIterator[Live]:
    topics = TopicNames(prefix=f"test.rebuild.{unique}.", partitions=3)
    await create_topics(stack.kafka, project_topics(topics))
    async with isolated_schema(stack) as pg:
        common = stack.model_copy(update={"topics": topics, "postgres": pg})
        settings = UploadSettings(projector_group=f"tests-rebuild-{unique}")
        stop = asyncio.Event()
        projector = asyncio.create_task(run_projector(settings, common, stop))
        conn = await connect(pg)
        try:
            yield Live(common, pg, conn, EventPublisher(producer, topics, "/clearcut/tests"))
        finally:
            stop.set()
            await asyncio.wait_for(projector, 15)
            await conn.close()


async def test_a_rebuild_equals_the_live_model_row_for_row(live: Live, unique: str) -> None:
    events, distinct = histories(f"rb-{unique}", 60)
    await live.publish(events)
    await live.wait_applied(distinct)
    before = await live.dump()
    assert len(before["images"]) == 60 and len(before["applied_events"]) == distinct

    report = await rebuild_read_model(live.common)

    assert report.swapped and report.target == live.pg.search_path
    assert report.records == len(events) and report.total_at_start == len(events)
    assert report.applied == distinct and report.duplicates == len(events) - distinct
    assert report.rows == {
        "applied_events": distinct,
        "images": 60,
        "processing_tasks": len(before["processing_tasks"]),
        "image_deletions": len(before["image_deletions"]),
    }
    # Deleted images (three kinds of history) are among them and stay deleted.
    deleted = [json.loads(r) for r in before["images"] if json.loads(r)["deleted"]]
    assert len(before["image_deletions"]) == len(deleted) > 0
    assert await live.dump() == before
    fresh = await live.conn.fetchval("SELECT to_regnamespace($1)", f"{live.pg.search_path}_rebuild")
    assert fresh is None, "the fresh schema is dropped after the swap"


async def test_a_dry_run_finds_damage_and_a_rebuild_repairs_it_while_events_flow(
    live: Live, unique: str
) -> None:
    owner = f"rb-{unique}"
    events, distinct = histories(owner, 40, seed=11)
    await live.publish(events)
    await live.wait_applied(distinct)
    healthy = await live.dump()
    damaged = await live.conn.fetchval(
        "SELECT id FROM images WHERE status = 'completed' ORDER BY id LIMIT 1"
    )
    await live.conn.execute("UPDATE images SET status = 'failed' WHERE id = $1", damaged)
    await live.conn.execute("DELETE FROM processing_tasks WHERE image_id = $1", damaged)

    dry = await rebuild_read_model(live.common, dry_run=True)
    assert not dry.swapped and dry.differences is not None
    assert dry.differences["images"] == (1, 1)
    assert dry.differences["processing_tasks"][1] >= 1
    assert dry.differences["applied_events"] == (0, 0)
    assert await live.conn.fetchval("SELECT status FROM images WHERE id = $1", damaged) == "failed"

    # More events arrive while the rebuild runs; the live projector keeps applying them.
    more, more_distinct = histories(owner, 30, seed=12)

    async def keep_publishing() -> None:
        for start in range(0, len(more), 10):
            await live.publish(more[start : start + 10])
            await asyncio.sleep(0)

    feeder = asyncio.create_task(keep_publishing())
    report = await rebuild_read_model(live.common)
    await feeder
    assert report.swapped
    await live.wait_applied(distinct + more_distinct)

    after = await live.dump()
    assert set(healthy["images"]) <= set(after["images"]), "the damage is repaired"
    assert len(after["images"]) == 70
    check = await rebuild_read_model(live.common, dry_run=True)
    assert check.differences == {table: (0, 0) for table in READ_MODEL_TABLES}


async def test_a_live_model_with_events_not_on_the_topics_is_kept_unless_loss_is_accepted(
    live: Live, unique: str
) -> None:
    owner = f"rb-{unique}"
    events, distinct = histories(owner, 5)
    await live.publish(events)
    await live.wait_applied(distinct)
    stray = ev.uploaded(f"img-{uuid.uuid4().hex}", f"task-{uuid.uuid4().hex}", owner=owner)
    pool = await create_pool(live.pg, 1, 1)
    try:
        await Projection(pool).apply(stray)  # in the read model, never on a topic
    finally:
        await pool.close()
    before = await live.dump()

    with pytest.raises(RebuildError, match="1 events in the live read model are not on the"):
        await rebuild_read_model(live.common)
    assert await live.dump() == before

    report = await rebuild_read_model(live.common, accept_loss=True)
    assert report.swapped
    gone = await live.conn.fetchval("SELECT count(*) FROM images WHERE id = $1", stray.image_id)
    assert gone == 0


async def test_topics_cut_by_retention_make_a_rebuild_refuse(live: Live, unique: str) -> None:
    events, distinct = histories(f"rb-{unique}", 5)
    await live.publish(events)
    await live.wait_applied(distinct)
    # Keys spread images over partitions: cut one that holds records.
    topic = live.common.topics.uploaded
    probe = AIOKafkaConsumer(bootstrap_servers=live.common.kafka.bootstrap_servers)
    await probe.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(live.common.topics.partitions)]
        probe.assign(parts)
        ends = await probe.end_offsets(parts)
    finally:
        await probe.stop()
    cut = next(tp for tp in parts if ends[tp] > 0)
    admin = admin_client(live.common.kafka)
    await admin.start()
    try:
        await admin.delete_records({cut: RecordsToDelete(before_offset=1)})
    finally:
        await admin.close()
    before = await live.dump()
    pattern = rf"no longer start at offset 0 .*image\.uploaded\[{cut.partition}\]"
    with pytest.raises(RebuildError, match=pattern):
        await rebuild_read_model(live.common)
    assert await live.dump() == before


async def test_two_rebuilds_of_one_schema_do_not_run_at_once(live: Live) -> None:
    conn = await connect(live.pg)
    try:
        key = f"clearcut-rebuild/{live.pg.search_path}"
        assert await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key)
        with pytest.raises(RebuildError, match="another rebuild"):
            await rebuild_read_model(live.common)
    finally:
        await conn.close()


def run_cli(live: Live, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.replay", "projection", "rebuild", *args],
        env={**os.environ, "CLEARCUT_TOPIC_PREFIX": live.common.topics.prefix, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_command_rebuilds_and_reports_its_rate(live: Live, unique: str) -> None:
    events, distinct = histories(f"rb-{unique}", 10)
    await live.publish(events)
    await live.wait_applied(distinct)
    before = await live.dump()
    schema = live.pg.search_path
    done = await asyncio.to_thread(run_cli, live, "--schema", schema)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {" ".join(line.split()) for line in done.stdout.splitlines()}
    assert f"│ records read │ {len(events)} │" in lines
    assert any(line.startswith("│ rate │") and "events/s" in line for line in lines)
    assert "swapped in: the read model is rebuilt" in done.stdout
    assert await live.dump() == before

    checked = await asyncio.to_thread(run_cli, live, "--schema", schema, "--dry-run")
    assert checked.returncode == 0 and "identical" in checked.stdout

    wrong = await asyncio.to_thread(run_cli, live, "--schema", f"nothing_{unique}")
    assert wrong.returncode == 1 and "does not exist" in wrong.stdout
