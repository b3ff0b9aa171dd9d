"""Publishing the processor's events and dead letters, with bounded retries.

When the broker stays unavailable after the retries, ``BrokerUnavailable`` is raised: no
event about the task can be written then, so the batch is not acknowledged and is tried
again later; nothing is lost and results, keyed by task, are simply overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity import wait_exponential_jitter as backoff

from schemas.events import EventBase
from services.common.kafka.consumer import dead_letter_headers
from services.common.kafka.producer import PublishFailed
from services.processor.adapters.blobstore import RetryPolicy

logger = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """Kafka did not take an event within the retries."""

    retriable = True


class Publisher(Protocol):
    async def publish(self, event: EventBase) -> Any: ...


class RetryingPublisher:
    """Publishes through ``publisher`` (an ``EventPublisher``), retrying broker errors."""

    def __init__(self, publisher: Publisher, retry: RetryPolicy) -> None:
        self._publisher = publisher
        self._retry = retry

    async def publish(self, event: EventBase) -> None:
        try:
            async for trial in AsyncRetrying(
                retry=retry_if_exception_type(PublishFailed),
                wait=backoff(
                    initial=1,
                    multiplier=self._retry.initial_s,
                    max=self._retry.max_s,
                    jitter=self._retry.initial_s,
                ),
                stop=stop_after_attempt(self._retry.attempts),
                reraise=True,
            ):
                with trial:
                    await self._publisher.publish(event)
        except PublishFailed as exc:
            raise BrokerUnavailable(
                f"cannot publish {type(event).__name__} for {event.image_id}: {exc!r}"
            ) from exc


@dataclass(frozen=True)
class RawMessage:
    """A consumed record as it came off the topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class DeadLetterSink(Protocol):
    async def send(
        self, message: RawMessage, *, reason: str, error: str, field: str | None = None
    ) -> None: ...


class DeadLetters:
    """Copies a message that can never be processed to its topic's dead-letter topic."""

    def __init__(
        self, producer: AIOKafkaProducer, dlq_topic_of: Callable[[str], str], group_id: str
    ) -> None:
        self._producer = producer
        self._dlq_topic_of = dlq_topic_of
        self._group_id = group_id

    async def send(
        self, message: RawMessage, *, reason: str, error: str, field: str | None = None
    ) -> None:
        record = ConsumerRecord(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=message.timestamp_ms,
            timestamp_type=0,
            key=message.key,
            value=message.value,
            checksum=None,
            serialized_key_size=len(message.key or b""),
            serialized_value_size=len(message.value or b""),
            headers=tuple(message.headers),
        )
        headers = dead_letter_headers(
            record, reason=reason, error=error, group_id=self._group_id, field=field
        )
        try:
            await self._producer.send_and_wait(
                self._dlq_topic_of(message.topic), message.value, key=message.key, headers=headers
            )
        except PublishFailed as exc:
            raise BrokerUnavailable(f"cannot dead-letter {message.topic}@{message.offset}") from exc
        logger.warning(
            "dead-lettered %s[%s]@%s: %s (%s)",
            message.topic,
            message.partition,
            message.offset,
            error,
            reason,
        )
