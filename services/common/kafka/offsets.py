"""Consumer-group offsets: the lag of a group per partition, and moving its committed
offsets to the earliest or latest records or to a point in time.

A reset commits new offsets on the group's behalf, which the broker accepts only while the
group has no members (generation -1, as any consumer outside group management). So a reset
refuses a group with active members unless forced; forced, it first removes the members
from the group (LeaveGroup in their name, as Kafka's own admin tooling does), commits, and
lets them rejoin: they resume from the new offsets, and records they were processing when
removed may be processed again. Groups of the classic protocol (aiokafka uses it)
are supported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.protocol.group import LeaveGroupRequest

from services.common.kafka.admin import admin_client, describe_topics
from services.common.settings import KafkaSettings

logger = logging.getLogger(__name__)


class OffsetsError(RuntimeError):
    pass


class GroupActive(OffsetsError):
    """The group has members; its offsets can only be changed by force."""


# --- what a reset aims at, and the offsets it gives (pure) -------------------------------


class ResetKind(StrEnum):
    EARLIEST = "earliest"
    LATEST = "latest"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True, slots=True)
class ResetTarget:
    kind: ResetKind
    at: datetime | None = None

    def __post_init__(self) -> None:
        if (self.kind is ResetKind.TIMESTAMP) != (self.at is not None):
            raise ValueError("a timestamp reset needs a time, and only it")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("the reset time must carry a timezone")

    def describe(self) -> str:
        if self.at is not None:
            return f"the first record written at or after {self.at.isoformat()}"
        return f"the {self.kind.value} offsets"


def planned_offsets(
    target: ResetTarget,
    beginnings: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    by_time: Mapping[TopicPartition, int | None] | None = None,
) -> dict[TopicPartition, int]:
    """The offset each partition resumes from. For a time: the first record written at or
    after it, or the end when the partition has none that late."""
    if target.kind is ResetKind.EARLIEST:
        return dict(beginnings)
    if target.kind is ResetKind.LATEST:
        return dict(ends)
    found = by_time or {}
    planned: dict[TopicPartition, int] = {}
    for tp, end in ends.items():
        offset = found.get(tp)
        planned[tp] = end if offset is None else offset
    return planned


# --- a group's offsets and lag -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    client_id: str
    host: str


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    partition: TopicPartition
    committed: int | None  # None: the group has committed nothing here
    beginning: int
    end: int

    @property
    def lag(self) -> int | None:
        """Records between the committed offset and the end; None without a commit."""
        if self.committed is None:
            return None
        return max(0, self.end - max(self.committed, self.beginning))


@dataclass(frozen=True, slots=True)
class GroupOffsets:
    group: str
    state: str
    members: list[Member]
    partitions: list[PartitionOffsets]

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)

    @property
    def known(self) -> bool:
        """Whether the broker knows the group at all: a group with no members and no
        committed offset is reported as "Dead", which is what a misspelt name gets."""
        return bool(
            self.members
            or self.state != "Dead"
            or any(p.committed is not None for p in self.partitions)
        )


@dataclass(frozen=True, slots=True)
class ResetOutcome:
    before: GroupOffsets
    offsets: dict[TopicPartition, int]
    applied: bool
    removed_members: list[Member]


async def describe_group(
    kafka: KafkaSettings, group: str, topics: list[str] | None = None
) -> GroupOffsets:
    """State, members and per-partition offsets of ``group`` for ``topics`` (default: every
    topic the group has committed offsets for)."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        state, members = await _describe(admin, group)
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    chosen = sorted(set(topics) if topics else {tp.topic for tp in committed})
    partitions = await _partitions(kafka, chosen)
    beginnings, ends = await _bounds(kafka, partitions)
    rows = []
    for tp in partitions:
        meta = committed.get(tp)
        offset = None if meta is None or meta.offset < 0 else int(meta.offset)
        rows.append(PartitionOffsets(tp, offset, beginnings[tp], ends[tp]))
    return GroupOffsets(group, state, members, rows)


async def list_groups(kafka: KafkaSettings) -> list[str]:
    """The names of the consumer groups the broker knows, sorted."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        groups = await admin.list_consumer_groups()
    finally:
        await admin.close()
    return sorted(str(g[0]) for g in groups)


async def _describe(admin: Any, group: str) -> tuple[str, list[Member]]:
    (response,) = await admin.describe_consumer_groups([group])
    (described,) = response.to_object()["groups"]
    if described["error_code"]:
        raise OffsetsError(f"describing group {group} failed: error {described['error_code']}")
    members = [
        Member(m["member_id"], m["client_id"], m["client_host"]) for m in described["members"]
    ]
    return str(described["state"]), members


async def _partitions(kafka: KafkaSettings, topics: list[str]) -> list[TopicPartition]:
    if not topics:
        return []
    counts = await describe_topics(kafka, topics)
    missing = [t for t in topics if t not in counts]
    if missing:
        raise OffsetsError(f"no such topic: {', '.join(missing)}")
    return [TopicPartition(t, p) for t in topics for p in range(counts[t])]


async def _bounds(
    kafka: KafkaSettings, partitions: list[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """First and end offsets of each partition."""
    if not partitions:
        return {}, {}
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        beginnings: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return beginnings, ends
    finally:
        await consumer.stop()


async def _offsets_for_time(
    kafka: KafkaSettings, partitions: list[TopicPartition], at: datetime
) -> dict[TopicPartition, int | None]:
    """The first offset written at or after ``at`` per partition (the timestamp index)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        found = await consumer.offsets_for_times(
            {tp: int(at.timestamp() * 1000) for tp in partitions}
        )
        return {tp: None if f is None else int(f.offset) for tp, f in found.items()}
    finally:
        await consumer.stop()


# --- resetting -----------------------------------------------------------------------------


async def reset_group(
    kafka: KafkaSettings,
    group: str,
    target: ResetTarget,
    topics: list[str] | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    attempts: int = 10,
) -> ResetOutcome:
    """Move ``group``'s committed offsets for ``topics`` (default: the topics it has
    committed offsets for) to ``target``."""
    before = await describe_group(kafka, group, topics)
    if not before.partitions:
        raise OffsetsError(
            f"group {group} has no committed offsets; name the topics to reset with --topic"
        )
    if before.members and not force and not dry_run:  # a preview changes nothing: always fine
        raise GroupActive(
            f"group {group} has {len(before.members)} active member(s) "
            f"({', '.join(m.client_id for m in before.members)}); stop them first, or force "
            "the reset (they are removed from the group and rejoin at the new offsets)"
        )
    partitions = [p.partition for p in before.partitions]
    beginnings = {p.partition: p.beginning for p in before.partitions}
    ends = {p.partition: p.end for p in before.partitions}
    by_time = None if target.at is None else await _offsets_for_time(kafka, partitions, target.at)
    offsets = planned_offsets(target, beginnings, ends, by_time)
    if dry_run:
        return ResetOutcome(before, offsets, applied=False, removed_members=[])
    removed = await _commit(kafka, group, offsets, force=force, attempts=attempts)
    logger.info("reset group %s to %s on %d partitions", group, target.describe(), len(offsets))
    return ResetOutcome(before, offsets, applied=True, removed_members=removed)


async def _commit(
    kafka: KafkaSettings,
    group: str,
    offsets: dict[TopicPartition, int],
    *,
    force: bool,
    attempts: int,
) -> list[Member]:
    removed: list[Member] = []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        client_id="clearcut-offsets",
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        for attempt in range(1, attempts + 1):
            if force:
                removed.extend(m for m in await _remove_members(kafka, group) if m not in removed)
            try:
                await consumer.commit(offsets)
                return removed
            except (CommitFailedError, KafkaError) as exc:
                if not force:
                    raise GroupActive(
                        f"group {group} got members while resetting; nothing was committed"
                    ) from exc
                logger.info("commit to %s refused (attempt %d): %s", group, attempt, exc)
                await asyncio.sleep(0.2 * attempt)
        raise OffsetsError(
            f"members kept rejoining group {group}; the reset was not committed "
            f"after {attempts} attempts"
        )
    finally:
        await consumer.stop()


async def _remove_members(kafka: KafkaSettings, group: str) -> list[Member]:
    admin = admin_client(kafka)
    await admin.start()
    try:
        _, members = await _describe(admin, group)
        if members:
            coordinator = await admin.find_coordinator(group)
            for member in members:
                # aiokafka's admin has no call for this; the request is the one its own
                # consumers send when they leave.
                response = await admin._send_request(
                    LeaveGroupRequest(group, member.member_id), coordinator
                )
                logger.warning(
                    "removed member %s (%s) from group %s: error code %s",
                    member.member_id,
                    member.client_id,
                    group,
                    response.error_code,
                )
        return members
    finally:
        await admin.close()
