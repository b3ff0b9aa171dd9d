"""Replays against the real broker and read model: what is selected, what is sent, and that
a replay re-run or continued after an interruption never requests an image twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import ImageUploaded, ModelRef, ProcessingCompleted, utc_now
from services.common.kafka.admin import create_topics, project_topics
from services.common.kafka.producer import EventPublisher
from services.common.settings import CommonSettings, TopicNames
from services.upload.projector.projection import Projection
from services.upload.replay.runner import ReplayRun
from services.upload.replay.selection import Criteria, Request, SkipReason
from tests.integration.conftest import poll_until
from tests.integration.upload.observe import events_of
from tests.unit.upload import events as ev

MODEL_B = ModelRef(name="model-b", version="2", sha256="b" * 64)


@dataclass
class Topic:
    common: CommonSettings
    publisher: EventPublisher
    owner: str

    async def upload(self, count: int, owner: str | None = None) -> list[ImageUploaded]:
        events = [
            ev.uploaded(f"img-{uuid.uuid4().hex}", f"task-{uuid.uuid4().hex}", owner or self.owner)
            for _ in range(count)
        ]
        for event in events:
            await self.publisher.publish(event)
        return events

    async def requests(self, replay_id: str | None = None) -> list[ImageUploaded]:
        """Reprocessing requests on the topic (of one replay)."""
        found = []
        for _, envelope in await events_of(self.common, self.common.topics.uploaded, self.owner):
            event = envelope.event
            if (
                isinstance(event, ImageUploaded)
                and event.reprocessing is not None
                and replay_id in (None, event.reprocessing.replay_id)
            ):
                found.append(event)
        return found

    async def replay(
        self,
        criteria: Criteria,
        replay_id: str,
        *,
        model: str | None = "model-b",
        dry: bool = False,
    ) -> ReplayRun:
        request = Request(replay_id, "operator", "new model", model)
        run = ReplayRun(self.common, criteria, request, dry_run=dry)
        await run.execute()
        return run


@pytest.fixture
async def topic(
    stack: CommonSettings, producer: AIOKafkaProducer, unique: str
) -> AsyncIterator[Topic]:
    names = TopicNames(prefix=f"test.replay.{unique}.", partitions=3)
    await create_topics(stack.kafka, project_topics(names))
    common = stack.model_copy(update={"topics": names})
    yield Topic(common, EventPublisher(producer, names, "/clearcut/tests"), f"owner-{unique}")


async def test_a_replay_sends_a_request_per_selected_image(topic: Topic) -> None:
    mine = await topic.upload(4)
    await topic.upload(2, owner=f"{topic.owner}-other")
    run = await topic.replay(Criteria(owner=topic.owner), "replay-a")
    assert run.plan is not None and run.sent == 4
    assert run.plan.selected == 4 and not run.plan.skipped

    requests = await topic.requests("replay-a")
    by_image = {r.image_id: r for r in requests}
    assert set(by_image) == {e.image_id for e in mine}
    for original in mine:
        request = by_image[original.image_id]
        assert request.reprocessing is not None
        assert request.reprocessing.original_event_id == original.event_id
        assert request.reprocessing.requested_by == "operator"
        assert request.reprocessing.reason == "new model"
        assert request.options.model == "model-b"
        assert request.task_id != original.task_id and request.event_id != original.event_id
        assert request.original == original.original
    records = await events_of(topic.common, topic.common.topics.uploaded, topic.owner)
    keys = {r.key for r, e in records if e.event.event_id in {q.event_id for q in requests}}
    assert keys == {e.image_id.encode() for e in mine}, "keyed by image id"
    sources = {e.source for _, e in records if e.event.event_id in {q.event_id for q in requests}}
    assert sources == {"/clearcut/cli/replay"}


async def test_a_dry_run_sends_nothing(topic: Topic) -> None:
    await topic.upload(3)
    run = await topic.replay(Criteria(owner=topic.owner), "replay-dry", dry=True)
    assert run.plan is not None and len(run.plan.to_send) == 3 and run.sent == 0
    assert await topic.requests() == []


async def test_the_same_replay_run_twice_sends_once(topic: Topic) -> None:
    await topic.upload(3)
    first = await topic.replay(Criteria(owner=topic.owner), "replay-twice")
    second = await topic.replay(Criteria(owner=topic.owner), "replay-twice")
    assert first.sent == 3 and second.sent == 0
    assert second.plan is not None
    assert second.plan.skipped_by_reason() == {SkipReason.ALREADY_SENT: 3}
    assert len(await topic.requests("replay-twice")) == 3
    another = await topic.replay(Criteria(owner=topic.owner), "replay-another")
    assert another.sent == 3, "another replay id is another request"


async def test_a_replay_continued_after_an_interruption_sends_only_the_rest(topic: Topic) -> None:
    uploads = await topic.upload(5)
    # The interrupted run got as far as two images.
    await topic.replay(Criteria(image_ids=frozenset(e.image_id for e in uploads[:2])), "replay-cut")
    rest = await topic.replay(Criteria(owner=topic.owner), "replay-cut")
    assert rest.sent == 3
    requests = await topic.requests("replay-cut")
    assert sorted(r.image_id for r in requests) == sorted(e.image_id for e in uploads)


async def _after(moment: datetime) -> datetime:
    """Wait (polling) until the clock is clearly past ``moment``; return the time."""
    assert await poll_until(lambda: utc_now() > moment + timedelta(milliseconds=5), within=5)
    return utc_now()


async def test_a_time_range_selects_by_the_topics_timestamps(topic: Topic) -> None:
    early = await topic.upload(3)
    middle = await _after(utc_now())
    late = await topic.upload(2)
    since = await topic.replay(Criteria(since=middle), "replay-since", dry=True)
    until = await topic.replay(Criteria(until=middle), "replay-until", dry=True)
    assert since.plan is not None and until.plan is not None
    assert {e.image_id for e in since.plan.to_send} == {e.image_id for e in late}
    assert {e.image_id for e in until.plan.to_send} >= {e.image_id for e in early}
    assert not {e.image_id for e in until.plan.to_send} & {e.image_id for e in late}
    assert since.scan is not None and since.scan.records < 5 + 1, "started at the time index"


async def test_missing_selects_only_images_without_a_completed_task_for_the_model(
    topic: Topic, pg_pool: asyncpg.Pool
) -> None:
    done_b, also_b, done_a, busy_b, nothing = await topic.upload(5)
    projection = Projection(pg_pool)
    for original in (done_b, also_b, done_a, busy_b, nothing):
        await projection.apply(original)
    for original, model in ((done_b, MODEL_B), (also_b, MODEL_B), (done_a, None)):
        completed = ev.completed(original.image_id, original.task_id, owner=topic.owner)
        if model is not None:
            completed = ProcessingCompleted.model_validate(
                completed.model_dump() | {"model": model.model_dump()}
            )
        await projection.apply(completed)
    busy = ev.uploaded(busy_b.image_id, f"task-{uuid.uuid4().hex}", topic.owner, replay=True)
    busy = busy.model_copy(update={"options": busy.options.model_copy(update={"model": "model-b"})})
    await projection.apply(busy)

    run = await topic.replay(Criteria(missing=True, owner=topic.owner), "replay-missing")
    assert run.plan is not None
    assert {e.image_id for e in run.plan.to_send} == {done_a.image_id, nothing.image_id}
    assert {(s.image_id, s.reason) for s in run.plan.skipped} == {
        (done_b.image_id, SkipReason.HAS_COMPLETED_TASK),
        (also_b.image_id, SkipReason.HAS_COMPLETED_TASK),
        (busy_b.image_id, SkipReason.IN_PROGRESS),
    }
    assert run.sent == 2


def cli(topic: Topic, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.replay", *args],
        env={**os.environ, "CLEARCUT_TOPIC_PREFIX": topic.common.topics.prefix, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_command_lists_in_a_dry_run_then_sends_and_sums_up(topic: Topic) -> None:
    uploads = await topic.upload(2)
    dry = await asyncio.to_thread(
        cli, topic, "replay", "--owner", topic.owner, "--model", "model-b", "--dry-run"
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would send" in dry.stdout and uploads[0].image_id in dry.stdout
    assert await topic.requests() == []

    args = ("replay", "--owner", topic.owner, "--replay-id", "replay-cli", "--reason", "why")
    sent = await asyncio.to_thread(cli, topic, *args)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "replay replay-cli" in sent.stdout
    lines = {" ".join(line.split()) for line in sent.stdout.splitlines()}
    assert "│ selected │ 2 │" in lines and "│ sent │ 2 │" in lines
    again = await asyncio.to_thread(cli, topic, *args)
    assert "│ skipped (already_sent) │ 2 │" in {
        " ".join(x.split()) for x in again.stdout.splitlines()
    }
    assert len(await topic.requests("replay-cli")) == 2

    refused = await asyncio.to_thread(cli, topic, "replay", "--missing")
    assert refused.returncode == 2 and "give --model" in refused.stdout + refused.stderr


async def test_an_interrupted_replay_is_finished_by_running_it_again(topic: Topic) -> None:
    count = 2000
    events = [
        ev.uploaded(f"img-{uuid.uuid4().hex}", f"task-{uuid.uuid4().hex}", topic.owner)
        for _ in range(count)
    ]
    for start in range(0, count, 200):
        await asyncio.gather(*(topic.publisher.publish(e) for e in events[start : start + 200]))
    args = ["replay", "--owner", topic.owner, "--replay-id", "replay-ctrl-c"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli.replay",
        *args,
        env={**os.environ, "CLEARCUT_TOPIC_PREFIX": topic.common.topics.prefix, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        consumer = AIOKafkaConsumer(bootstrap_servers=topic.common.kafka.bootstrap_servers)
        await consumer.start()
        partitions = [TopicPartition(topic.common.topics.uploaded, p) for p in range(3)]
        try:
            deadline = asyncio.get_running_loop().time() + 60
            while sum((await consumer.end_offsets(partitions)).values()) == count:
                assert asyncio.get_running_loop().time() < deadline, "nothing was sent"
                assert process.returncode is None, "the replay ended before sending"
                await asyncio.sleep(0.02)
        finally:
            await consumer.stop()
        process.send_signal(signal.SIGINT)  # Ctrl-C while it sends
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = stdout.decode()
    assert process.returncode == 130, output
    assert "run the same command with --replay-id replay-ctrl-c" in output
    sent_before = len(await topic.requests("replay-ctrl-c"))
    assert 0 < sent_before < count

    again = await asyncio.to_thread(cli, topic, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = {" ".join(line.split()) for line in again.stdout.splitlines()}
    assert f"│ skipped (already_sent) │ {sent_before:,} │" in lines
    requests = await topic.requests("replay-ctrl-c")
    assert len(requests) == count, "every image requested once, none twice"
    assert len({r.image_id for r in requests}) == count


async def test_deleted_images_are_skipped_whatever_the_criteria(
    topic: Topic, pg_pool: asyncpg.Pool
) -> None:
    kept, gone = await topic.upload(2)
    projection = Projection(pg_pool)
    for original in (kept, gone):
        await projection.apply(original)
    await projection.apply(ev.deleted(gone.image_id, owner=topic.owner))
    run = await topic.replay(Criteria(owner=topic.owner), "replay-deleted")
    assert run.plan is not None and run.sent == 1
    assert [(s.image_id, s.reason) for s in run.plan.skipped] == [
        (gone.image_id, SkipReason.DELETED)
    ]
    assert [r.image_id for r in await topic.requests("replay-deleted")] == [kept.image_id]
