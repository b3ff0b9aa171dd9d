"""Reading dead-letter topics and sending their records back where they came from.

A dead letter is the original record unchanged (key, value, headers) plus ``dlq_*`` headers
saying why, where from and when (``consumer.dead_letter_headers``). Redriving produces the
original key, value and headers again to ``dlq_original_topic``: the event keeps its
``ce_id``, so a consumer that already applied it (the projector's applied-event record, the
processor's per-task results) changes nothing the second time, and redriving the same dead
letter twice is harmless. The redriven record carries ``dlq_redriven_from`` naming the dead
letter, for tracing it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.common.envelope import TRACE_HEADERS
from services.common.kafka.admin import describe_topics
from services.common.kafka.consumer import consumer_config
from services.common.settings import KafkaSettings

DLQ_PREFIX = "dlq_"
ORIGINAL_TRACE_PREFIX = "dlq_original_"
REDRIVEN_FROM = "dlq_redriven_from"


class DeadLetterError(RuntimeError):
    """A dead-letter topic or record that cannot be read or sent back."""


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def ref(self) -> str:
        """``topic:partition:offset``, the handle ``clearcut dlq show`` takes."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return None

    @property
    def reason(self) -> str:
        return self.header("dlq_reason") or "unknown"

    @property
    def error(self) -> str:
        return self.header("dlq_error") or ""

    @property
    def original_topic(self) -> str | None:
        return self.header("dlq_original_topic")

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had before it was dead-lettered, trace context included."""
        restored: list[tuple[str, bytes]] = []
        for key, value in self.headers:
            if key.startswith(ORIGINAL_TRACE_PREFIX):
                name = key.removeprefix(ORIGINAL_TRACE_PREFIX)
                if name in TRACE_HEADERS:
                    restored.append((name, value))
            elif not key.startswith(DLQ_PREFIX):
                restored.append((key, value))
        return restored


def parse_ref(ref: str) -> tuple[str, int, int]:
    """``topic:partition:offset`` (the topic may itself hold dots, never colons)."""
    topic, _, rest = ref.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    try:
        return topic, int(partition), int(rest)
    except ValueError:
        raise DeadLetterError(f"{ref!r} is not TOPIC:PARTITION:OFFSET") from None


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=record.key,
        value=record.value or b"",
        headers=tuple(record.headers or ()),
    )


async def read_dead_letters(
    kafka: KafkaSettings, topic: str, *, since: datetime | None = None
) -> list[DeadLetter]:
    """Every record of ``topic`` (written at or after ``since``), in partition order; reads
    up to the end offsets at the time of the call, with no consumer group."""
    counts = await describe_topics(kafka, [topic])
    if topic not in counts:
        raise DeadLetterError(f"topic {topic} does not exist")
    tps = [TopicPartition(topic, p) for p in range(counts[topic])]
    consumer = AIOKafkaConsumer(**consumer_config(kafka, None, "clearcut-dlq"))
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        if since is not None:
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in tps}
            )
            starts = {tp: ends[tp] if hit is None else hit.offset for tp, hit in found.items()}
        for tp in tps:
            consumer.seek(tp, starts[tp])
        wanted = {tp for tp in tps if starts[tp] < ends[tp]}
        letters: list[DeadLetter] = []
        while wanted:
            batches = await consumer.getmany(*wanted, timeout_ms=1000)
            if not batches:
                break
            for tp, records in batches.items():
                letters.extend(_dead_letter(r) for r in records if r.offset < ends[tp])
                if await consumer.position(tp) >= ends[tp]:
                    wanted.discard(tp)
        return sorted(letters, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


async def redrive(producer: AIOKafkaProducer, letters: Sequence[DeadLetter]) -> int:
    """Send each dead letter back to its original topic; the number sent."""
    for letter in letters:
        if letter.original_topic is None:
            raise DeadLetterError(f"{letter.ref} has no dlq_original_topic header")
    for letter in letters:
        assert letter.original_topic is not None
        headers = [*letter.original_headers(), (REDRIVEN_FROM, letter.ref.encode())]
        await producer.send_and_wait(
            letter.original_topic, letter.value, key=letter.key, headers=headers
        )
    return len(letters)
