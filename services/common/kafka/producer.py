"""Producing events: one producer configuration for every service, and a typed publisher."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from schemas.events import EventBase
from schemas.registry import spec_for
from services.common.envelope import encode
from services.common.settings import KafkaSettings, TopicNames

logger = logging.getLogger(__name__)


def producer_config(kafka: KafkaSettings, client_id: str) -> dict[str, Any]:
    """Idempotent, acks=all, a linger short enough for latency, compressed."""
    return {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": client_id,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": kafka.linger_ms,
        "compression_type": None if kafka.compression == "none" else kafka.compression,
        "request_timeout_ms": 30_000,
        "retry_backoff_ms": 100,
    }


def create_producer(kafka: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """A producer that is not yet started; nothing connects until ``await start()``."""
    return AIOKafkaProducer(**producer_config(kafka, client_id))


class EventPublisher:
    """Validates, encodes and durably publishes events to their topics.

    ``publish`` returns only once the broker has the record on all in-sync replicas, so
    callers can commit their own input afterwards.
    """

    def __init__(self, producer: AIOKafkaProducer, topics: TopicNames, source: str) -> None:
        self._producer = producer
        self._topics = topics
        self._source = source

    def topic_for(self, event: EventBase) -> str:
        return self._topics.name(spec_for(event).topic)

    async def publish(self, event: EventBase) -> RecordMetadata:
        record = encode(event, self._source)  # raises InvalidEvent: a bug, never sent
        topic = self.topic_for(event)
        metadata: RecordMetadata = await self._producer.send_and_wait(
            topic, record.value, key=record.key, headers=record.headers
        )
        logger.debug(
            "published %s to %s[%s]@%s",
            type(event).__name__,
            topic,
            metadata.partition,
            metadata.offset,
            extra={"image_id": event.image_id, "event_id": event.event_id},
        )
        return metadata
