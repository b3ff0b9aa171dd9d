"""Reading the upload topic for a replay: every selected original upload, and the requests
this replay published before.

The scan starts at the first record written at or after `since` (the topic's timestamp
index, `offsets_for_times`), or at the beginning of each partition, and reads up to the
end offsets taken when it starts. It always reads to the end, whatever `until` says,
because an earlier run of the same replay wrote its requests there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas import ImageUploaded
from services.common.envelope import ContractError, decode
from services.common.kafka.admin import describe_topics
from services.common.kafka.consumer import consumer_config
from services.common.settings import KafkaSettings
from services.upload.replay.selection import Criteria

logger = logging.getLogger(__name__)


class ScanError(RuntimeError):
    pass


@dataclass
class ScanResult:
    originals: list[ImageUploaded] = field(default_factory=list)
    already_sent: set[str] = field(default_factory=set)
    records: int = 0
    undecodable: int = 0


def record_time(record: ConsumerRecord[bytes, bytes]) -> datetime:
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


async def scan_uploads(
    kafka: KafkaSettings,
    topic: str,
    criteria: Criteria,
    replay_id: str,
    *,
    on_total: Callable[[int], None] = lambda total: None,
    on_read: Callable[[int], None] = lambda count: None,
    idle_timeout: float = 30.0,
) -> ScanResult:
    """Read ``topic`` from ``criteria.since`` (or its beginning) to its current end."""
    consumer = AIOKafkaConsumer(
        **consumer_config(kafka, None, "clearcut-replay", offset_reset="earliest"),
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = await _partitions(kafka, topic)
        consumer.assign(partitions)
        starts = await _start_offsets(consumer, partitions, criteria.since)
        ends = await consumer.end_offsets(partitions)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        remaining = {tp: ends[tp] for tp in partitions if starts[tp] < ends[tp]}
        on_total(sum(ends[tp] - starts[tp] for tp in remaining))
        result = ScanResult()
        last_progress = time.monotonic()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=2000)
            read = 0
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= remaining.get(tp, -1):
                        continue
                    read += 1
                    _take(record, criteria, replay_id, result)
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
            if read:
                result.records += read
                on_read(read)
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > idle_timeout:
                raise ScanError(
                    f"no records from {topic} for {idle_timeout:.0f} s before its end offsets"
                )
        return result
    finally:
        await consumer.stop()


async def _partitions(kafka: KafkaSettings, topic: str) -> list[TopicPartition]:
    count = (await describe_topics(kafka, [topic])).get(topic)
    if not count:
        raise ScanError(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in range(count)]


async def _start_offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: datetime | None
) -> dict[TopicPartition, int]:
    beginnings: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
    if since is None:
        return beginnings
    found = await consumer.offsets_for_times(
        {tp: int(since.timestamp() * 1000) for tp in partitions}
    )
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    # No record at or after `since` in a partition: nothing of it is in range.
    return {tp: ends[tp] if found[tp] is None else found[tp].offset for tp in partitions}


def _take(
    record: ConsumerRecord[bytes, bytes], criteria: Criteria, replay_id: str, result: ScanResult
) -> None:
    try:
        envelope = decode(record.value, list(record.headers or ()))
    except ContractError as exc:
        result.undecodable += 1
        logger.warning(
            "skipping %s[%s]@%s: %s", record.topic, record.partition, record.offset, exc.message
        )
        return
    event = envelope.event
    if not isinstance(event, ImageUploaded):
        return
    if event.reprocessing is not None:
        if event.reprocessing.replay_id == replay_id:
            result.already_sent.add(event.event_id)
        return
    if criteria.matches(event, record_time(record)):
        result.originals.append(event)
