"""Looking at what the upload service left behind: records on a topic, objects in a bucket."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from minio import Minio

from services.common.envelope import EventEnvelope, decode
from services.common.kafka.admin import describe_topics
from services.common.kafka.consumer import consumer_config
from services.common.settings import CommonSettings


async def read_topic(
    common: CommonSettings, topic: str, within: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` up to its end at the time of the call."""
    consumer = AIOKafkaConsumer(
        **consumer_config(common.kafka, None, "clearcut-tests", offset_reset="earliest")
    )
    await consumer.start()
    try:
        count = (await describe_topics(common.kafka, [topic])).get(topic)
        if not count:
            raise LookupError(f"topic {topic} does not exist")
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + within
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {within} s")
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        return records
    finally:
        await consumer.stop()


async def events_of(
    common: CommonSettings, topic: str, owner: str
) -> list[tuple[ConsumerRecord[bytes, bytes], EventEnvelope]]:
    """The decoded events of ``owner`` on ``topic``."""
    found = []
    for record in await read_topic(common, topic):
        envelope = decode(record.value, list(record.headers or ()))
        if envelope.event.owner == owner:
            found.append((record, envelope))
    return found


def objects_of(minio: Minio, bucket: str, owner: str) -> list[str]:
    listing = minio.list_objects(bucket, prefix=f"{owner}/", recursive=True)
    return [obj.object_name for obj in listing]
