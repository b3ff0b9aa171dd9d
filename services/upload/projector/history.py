"""Reading the image topics from their beginning, for a rebuild of the read model.

No consumer group: every partition of every image topic is assigned directly, read from its
first offset, and nothing is committed. The caller fixes the end offsets up to which it
reads, so progress can be measured against them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import Event
from services.common.envelope import ContractError, decode
from services.common.kafka.admin import describe_topics
from services.common.kafka.consumer import consumer_config
from services.common.settings import KafkaSettings

logger = logging.getLogger(__name__)

Offsets = Mapping[TopicPartition, int]
BatchHandler = Callable[[list[Event], int], Awaitable[None]]


class HistoryError(RuntimeError):
    pass


@dataclass(frozen=True)
class Extent:
    """Where each partition starts and ends."""

    beginnings: Offsets
    ends: Offsets

    @property
    def total(self) -> int:
        return sum(self.ends[tp] - self.beginnings[tp] for tp in self.ends)

    def truncated(self) -> list[TopicPartition]:
        """Partitions whose first records were deleted (retention): a rebuild cannot see
        them."""
        return sorted(tp for tp, first in self.beginnings.items() if first > 0)


class TopicHistory:
    def __init__(self, kafka: KafkaSettings, topics: list[str], *, idle_timeout: float = 30.0):
        self._kafka = kafka
        self._topics = topics
        self._idle_timeout = idle_timeout
        self._consumer = AIOKafkaConsumer(
            **consumer_config(kafka, None, "clearcut-rebuild", offset_reset="earliest"),
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._partitions: list[TopicPartition] = []
        self.skipped = 0

    async def start(self) -> Extent:
        counts = await describe_topics(self._kafka, self._topics)
        missing = [t for t in self._topics if not counts.get(t)]
        if missing:
            raise HistoryError(f"topics missing: {', '.join(missing)}")
        self._partitions = [TopicPartition(t, p) for t in self._topics for p in range(counts[t])]
        await self._consumer.start()
        self._consumer.assign(self._partitions)
        beginnings: dict[TopicPartition, int] = await self._consumer.beginning_offsets(
            self._partitions
        )
        for tp, offset in beginnings.items():
            self._consumer.seek(tp, offset)
        return Extent(beginnings, await self.current_ends())

    async def current_ends(self) -> dict[TopicPartition, int]:
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(self._partitions)
        return ends

    async def read_until(self, ends: Offsets, handle: BatchHandler) -> int:
        """Read every partition up to ``ends`` and hand over the decoded events batch by
        batch, with the number of records they came from; records that do not decode are
        counted in ``skipped`` and left out. Returns the number of records read."""
        remaining = {tp: end for tp, end in ends.items() if await self._consumer.position(tp) < end}
        read = 0
        last_progress = time.monotonic()
        while remaining:
            batches = await self._consumer.getmany(*remaining, timeout_ms=500, max_records=1000)
            events: list[Event] = []
            before = read
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= remaining[tp]:
                        # Fetched beyond this read's end: rewind, so that the next read
                        # starts exactly there.
                        self._consumer.seek(tp, remaining[tp])
                        break
                    read += 1
                    try:
                        envelope = decode(record.value, list(record.headers or ()))
                    except ContractError as exc:
                        self.skipped += 1
                        logger.warning(
                            "skipping %s[%s]@%s: %s (%s)",
                            record.topic,
                            record.partition,
                            record.offset,
                            exc.message,
                            exc.reason,
                        )
                        continue
                    events.append(envelope.event)
            for tp in list(remaining):
                if await self._consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
            if batches:
                last_progress = time.monotonic()
                await handle(events, read - before)
            elif time.monotonic() - last_progress > self._idle_timeout:
                raise HistoryError(
                    f"no records for {self._idle_timeout:.0f} s before the end offsets of "
                    + ", ".join(f"{tp.topic}[{tp.partition}]" for tp in remaining)
                )
        return read

    async def stop(self) -> None:
        await self._consumer.stop()
