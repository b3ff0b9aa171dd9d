"""Producing events: one producer configuration for every service, and a typed publisher."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
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


class PublishFailed(Exception):
    """The broker did not acknowledge an event: it is down or unreachable, or did not answer
    in time. `retriable` is false only when the broker refused the record itself (too large,
    not authorised): sending it again cannot help."""

    def __init__(self, event: EventBase, cause: BaseException) -> None:
        super().__init__(
            f"cannot publish {type(event).__name__} for {event.image_id}: "
            f"{type(cause).__name__}: {cause}"
        )
        # aiokafka marks its own KafkaTimeoutError not retriable; no answer in time is an outage.
        self.retriable: bool = bool(getattr(cause, "retriable", True)) or isinstance(
            cause, TimeoutError | KafkaTimeoutError
        )


@dataclass(frozen=True, slots=True)
class Published:
    """Where the broker wrote an event."""

    topic: str
    partition: int
    offset: int


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

    async def publish(self, event: EventBase, *, ack_within: float | None = None) -> Published:
        """Publish `event`; a driver error or no acknowledgement within `ack_within` seconds
        raises `PublishFailed` (the event may still have been written: publishing is
        idempotent for readers, which key on event and task ids)."""
        record = encode(event, self._source)  # raises InvalidEvent: a bug, never sent
        topic = self.topic_for(event)
        try:
            metadata: RecordMetadata = await asyncio.wait_for(
                self._producer.send_and_wait(
                    topic, record.value, key=record.key, headers=record.headers
                ),
                ack_within,
            )
        except (KafkaError, TimeoutError) as exc:
            raise PublishFailed(event, exc) from exc
        logger.debug(
            "published %s to %s[%s]@%s",
            type(event).__name__,
            topic,
            metadata.partition,
            metadata.offset,
            extra={"image_id": event.image_id, "event_id": event.event_id},
        )
        return Published(topic, metadata.partition, metadata.offset)
