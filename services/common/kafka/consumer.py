"""Consuming events: decode and validate each record, run the handler, commit after it.

Delivery is at least once: the offset of a record is committed only after its handler has
returned (its effect is durable) or after it was dead-lettered, at most once a second
(``COMMIT_INTERVAL_S``) and when the consumer stops, so a crash or a rebalance redelivers up
to a second of records. Handlers must therefore be idempotent, keyed by event or task id.

A record that can never be handled -- undecodable bytes, JSON that breaks the schema, an
unknown ``ce_type``, or a handler error that is not retriable -- is published unchanged (same
key, value and headers) to the topic's dead-letter topic with ``dlq_*`` headers saying why,
where from and when, and the consumer carries on with the next record. A retriable handler
error (a store or broker briefly unavailable) is retried with backoff and never skipped.
While a record waits like that, every assigned partition is paused and the consumer keeps
polling (returning nothing), so the group never takes it for dead however long the outage
lasts, and the rest of the partition is not fetched meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from opentelemetry import trace
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential_jitter

from services.common.envelope import TRACE_HEADERS, ContractError, EventEnvelope, decode
from services.common.settings import KafkaSettings, TopicNames
from services.common.telemetry import consumer_span

logger = logging.getLogger(__name__)

Handler = Callable[[EventEnvelope], Awaitable[None]]

# How long the broker holds a fetch open when there is nothing to return.
LONG_POLL_MS = 500

# How often a consumer of `EventConsumer` commits what its handler made durable.
COMMIT_INTERVAL_S = 1.0


def is_retriable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retriable", False))


def consumer_config(
    kafka: KafkaSettings,
    group_id: str | None,
    client_id: str,
    *,
    offset_reset: str = "earliest",
    low_latency: bool = False,
) -> dict[str, Any]:
    """Manual commits (after the effect); optionally fetch settings tuned for latency."""
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "group_id": group_id,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": offset_reset,
        "isolation_level": "read_committed",
        "max_poll_interval_ms": kafka.max_poll_interval_ms,
    }
    if low_latency:
        # Long polls: the broker answers the moment one byte is there (fetch_min_bytes=1),
        # so a long wait costs no record latency, and an idle consumer makes two fetches a
        # second instead of a hundred. Not longer: the broker answers one request per
        # connection at a time, so a metadata or offsets request of the same consumer (a
        # readiness check, end offsets for lag) waits behind a fetch held open: 4-4.7 s
        # with 5 s polls, 26-170 ms with these.
        config.update(fetch_min_bytes=1, fetch_max_wait_ms=LONG_POLL_MS)
    return config


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes],
    *,
    reason: str,
    error: str,
    group_id: str | None,
    field: str | None = None,
) -> list[tuple[str, bytes]]:
    """The original headers plus why, where from and when. Trace headers are renamed, not
    kept, because the producer's tracing appends a fresh ``traceparent`` (same trace)."""
    headers: list[tuple[str, bytes]] = []
    for key, value in record.headers or ():
        if key in TRACE_HEADERS:
            headers.append((f"dlq_original_{key}", value))
        else:
            headers.append((key, value))
    extra = {
        "dlq_reason": reason,
        "dlq_error": error[:2000],
        "dlq_original_topic": record.topic,
        "dlq_original_partition": str(record.partition),
        "dlq_original_offset": str(record.offset),
        "dlq_original_timestamp": str(record.timestamp),
        "dlq_failed_at": datetime.now(UTC).isoformat(),
        "dlq_consumer_group": group_id or "",
    }
    if field:
        extra["dlq_field"] = field
    headers.extend((k, v.encode("utf-8")) for k, v in extra.items())
    return headers


class EventConsumer:
    """Runs ``handler`` for every valid event of the subscribed topics, in partition order."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        topics: TopicNames,
        handler: Handler,
        *,
        group_id: str | None,
        tracer: trace.Tracer | None = None,
        max_retry_wait: float = 10.0,
        keepalive_s: float = 1.0,
        commit_interval_s: float = COMMIT_INTERVAL_S,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._topics = topics
        self._handler = handler
        self._group_id = group_id
        self._tracer = tracer or trace.get_tracer(__name__)
        self._max_retry_wait = max_retry_wait
        self._keepalive_s = keepalive_s
        self._commit_interval_s = commit_interval_s
        self._uncommitted: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self.dead_lettered = 0
        self.handled = 0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                batches = await self._consumer.getmany(timeout_ms=500, max_records=100)
                for tp, records in batches.items():
                    for record in records:
                        await self._polling_while(self.process(record))
                    if records:
                        self._uncommitted[tp] = records[-1].offset + 1
                await self._commit_due()
        finally:
            try:
                await self._commit_uncommitted()
            except KafkaError as exc:
                logger.warning("final offsets not committed (they are redelivered): %s", exc)

    async def _commit_due(self) -> None:
        """Commit what took effect, at most once per ``commit_interval_s``: a crash or a
        rebalance redelivers at most that much, which idempotent handlers absorb, and the
        broker is spared a commit round trip per fetch (under a slow stream, per record)."""
        loop = asyncio.get_running_loop()
        if self._uncommitted and loop.time() - self._last_commit >= self._commit_interval_s:
            await self._commit_uncommitted()

    async def _commit_uncommitted(self) -> None:
        offsets, self._uncommitted = self._uncommitted, {}
        self._last_commit = asyncio.get_running_loop().time()
        assigned = self._consumer.assignment()
        await self._commit_all({tp: at for tp, at in offsets.items() if tp in assigned})

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Handle one record to completion: handled, or dead-lettered. Never raises for a
        bad record; retries retriable failures until they succeed."""
        try:
            envelope = decode(record.value, list(record.headers or ()))
        except ContractError as exc:
            logger.warning(
                "dead-lettering %s[%s]@%s: %s (%s)",
                record.topic,
                record.partition,
                record.offset,
                exc.message,
                exc.reason,
            )
            await self._dead_letter(record, exc.reason, exc.message, exc.field)
            return
        with consumer_span(self._tracer, record.topic, record.headers, envelope.subject) as span:
            try:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception(is_retriable),
                    wait=wait_exponential_jitter(
                        multiplier=0.1, max=self._max_retry_wait, jitter=0.1
                    ),
                    reraise=True,
                ):
                    with attempt:
                        await self._handler(envelope)
            except Exception as exc:
                span.record_exception(exc)
                logger.exception("handler failed for event %s; dead-lettering", envelope.id)
                await self._dead_letter(record, "handler_error", f"{type(exc).__name__}: {exc}")
                return
        self.handled += 1

    async def _polling_while(self, work: Awaitable[None]) -> None:
        """Run ``work``; if it takes longer than ``keepalive_s`` (a handler waiting for a
        dependency), poll with every partition paused until it is done."""
        task = asyncio.ensure_future(work)
        paused = False
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._keepalive_s)
                if done:
                    break
                if not paused:
                    logger.info("waiting on a handler; partitions paused, polling kept up")
                    paused = True
                await self._idle_poll()
        except BaseException:
            task.cancel()
            raise
        finally:
            if paused:
                self._consumer.resume(*self._consumer.assignment())
        task.result()

    async def _idle_poll(self) -> None:
        assigned = self._consumer.assignment()
        self._consumer.pause(*assigned)
        # Partitions assigned since (a rebalance) are not paused yet: put back what they gave.
        stray = await self._consumer.getmany(timeout_ms=0)
        for tp, records in stray.items():
            if records:
                self._consumer.seek(tp, records[0].offset)

    async def _dead_letter(
        self,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        error: str,
        field: str | None = None,
    ) -> None:
        headers = dead_letter_headers(
            record, reason=reason, error=error, group_id=self._group_id, field=field
        )
        await self._producer.send_and_wait(
            self._topics.dlq(record.topic), record.value, key=record.key, headers=headers
        )
        self.dead_lettered += 1

    async def _commit_all(self, offsets: dict[TopicPartition, int]) -> None:
        if self._group_id is None or not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another member meanwhile: it gets these records again,
            # which idempotent handlers absorb.
            logger.warning("offsets not committed, the group was rebalanced: %s", exc)
