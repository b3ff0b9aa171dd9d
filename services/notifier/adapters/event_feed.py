"""Every ProcessingStarted/Completed/Failed, as soon as it is on Kafka, for this process.

Each notifier process must see every event, so there is no consumer group: the feed
assigns itself every partition of the three topics and starts at their end (a client that
was not connected learns the past from its snapshot). New partitions are picked up from
their beginning. Fetches return as soon as one record is there instead of waiting to fill
a batch. Records that are not valid events are logged, counted and skipped: their dead
letters belong to the topics' owning consumers, not to the notifier.

Within one fetched batch, events are handed over in the order they happened, so a Started
and a Completed of one image fetched together from two topics reach clients in order. The
feed yields to the event loop after each event, so the clients' writers flush it before
the next one is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry import trace
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_when_event_set,
    wait_exponential,
)

from services.common.envelope import ContractError, EventEnvelope, decode
from services.common.kafka.admin import describe_topics
from services.common.kafka.consumer import consumer_config
from services.common.settings import KafkaSettings, TopicNames
from services.common.telemetry import consumer_span
from services.notifier.metrics import NotifierMetrics

logger = logging.getLogger(__name__)

Deliver = Callable[[EventEnvelope], int]
_RETRY_FIRST_S, _RETRY_MAX_S = 0.5, 5.0


class KafkaEventFeed:
    def __init__(
        self,
        kafka: KafkaSettings,
        topics: TopicNames,
        metrics: NotifierMetrics,
        *,
        client_id: str,
        tracer: trace.Tracer,
        refresh_seconds: float = 30.0,
    ) -> None:
        self._kafka = kafka
        self._topics = [topics.started, topics.completed, topics.failed, topics.deleted]
        self._metrics = metrics
        self._client_id = client_id
        self._tracer = tracer
        self._refresh_seconds = refresh_seconds
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: dict[str, int] = {}
        self.ready = False

    @property
    def topics(self) -> list[str]:
        return list(self._topics)

    async def run(self, deliver: Deliver, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; retries while Kafka or the topics are missing."""
        try:
            await self._retry(stop, "connect to Kafka", self._start)
            await self._retry(stop, "find the event topics", self._assign_from_end)
            if stop.is_set():
                return
            self.ready = True
            logger.info("consuming %s from their end", ", ".join(self._topics))
            await self._consume(deliver, stop)
        finally:
            self.ready = False
            consumer, self._consumer = self._consumer, None
            if consumer is not None:
                await consumer.stop()

    async def _start(self) -> None:
        consumer = AIOKafkaConsumer(
            **consumer_config(
                self._kafka, None, self._client_id, offset_reset="latest", low_latency=True
            )
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def ping(self) -> None:
        """Raises unless the broker answers a metadata request."""
        consumer = self._consumer
        if consumer is None or not self.ready:
            raise RuntimeError("the event feed is not consuming yet")
        await consumer.topics()

    async def _consume(self, deliver: Deliver, stop: asyncio.Event) -> None:
        consumer = self._require_consumer()
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self._refresh_seconds
        while not stop.is_set():
            try:
                batches = await consumer.getmany(timeout_ms=200)
            except KafkaError as exc:
                logger.warning("fetching events failed, retrying: %s", exc)
                await _wait(stop, _RETRY_FIRST_S)
                continue
            if batches:
                await self._hand_over([r for rs in batches.values() for r in rs], deliver)
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + self._refresh_seconds
                try:
                    await self._pick_up_new_partitions()
                except (KafkaError, OSError) as exc:
                    logger.warning("checking the event topics for new partitions failed: %s", exc)

    async def _hand_over(
        self, records: list[ConsumerRecord[bytes, bytes]], deliver: Deliver
    ) -> None:
        decoded: list[tuple[EventEnvelope, ConsumerRecord[bytes, bytes]]] = []
        for record in records:
            try:
                decoded.append((decode(record.value, list(record.headers or ())), record))
            except ContractError as exc:
                self._metrics.invalid_records.labels(exc.reason).inc()
                logger.warning(
                    "skipping invalid record %s[%s]@%s: %s (%s)",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc.message,
                    exc.reason,
                )
        decoded.sort(key=lambda pair: pair[0].time)
        for envelope, record in decoded:
            with consumer_span(
                self._tracer, record.topic, record.headers, envelope.subject
            ) as span:
                try:
                    recipients = deliver(envelope)
                except Exception:
                    # One event that cannot be pushed must not stop the feed.
                    logger.exception("pushing event %s failed", envelope.id)
                    continue
                span.set_attribute("clearcut.notifier.recipients", recipients)
                logger.info(
                    "%s %s queued for %d clients",
                    envelope.type,
                    envelope.id,
                    recipients,
                    extra={"event_id": envelope.id},
                )
            # Let the clients' writers flush this event before the next one is queued, so
            # a burst of events never overflows the queue of a client that keeps reading.
            await asyncio.sleep(0)

    async def _assign_from_end(self) -> None:
        counts = await describe_topics(self._kafka, self._topics)
        missing = [t for t in self._topics if not counts.get(t)]
        if missing:
            raise LookupError(f"topics not found: {', '.join(missing)}")
        consumer = self._require_consumer()
        partitions = _partitions(counts)
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        # Resolve the end offsets now, so that every event produced after the feed reports
        # ready is delivered.
        for tp in partitions:
            await consumer.position(tp)
        self._partitions = counts

    async def _pick_up_new_partitions(self) -> None:
        counts = await describe_topics(self._kafka, self._topics)
        if all(counts.get(t, 0) <= self._partitions.get(t, 0) for t in self._topics):
            return
        consumer = self._require_consumer()
        positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        merged = {t: max(counts.get(t, 0), self._partitions.get(t, 0)) for t in self._topics}
        partitions = _partitions(merged)
        consumer.assign(partitions)
        fresh = [tp for tp in partitions if tp not in positions]
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        await consumer.seek_to_beginning(*fresh)
        self._partitions = merged
        logger.info("now consuming %d partitions (new: %s)", len(partitions), fresh)

    def _require_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the event feed is not running")
        return self._consumer

    async def _retry(
        self, stop: asyncio.Event, what: str, step: Callable[[], Awaitable[None]]
    ) -> None:
        """Run `step` until it succeeds or `stop` is set, backing off 0.5 s up to 5 s."""

        def log(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.warning("cannot %s yet (%s); retrying in %.1fs", what, exc, delay)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type((KafkaError, OSError, LookupError)),
            wait=wait_exponential(multiplier=_RETRY_FIRST_S, max=_RETRY_MAX_S),
            stop=stop_when_event_set(stop),  # type: ignore[arg-type]  # it only calls is_set()
            sleep=lambda seconds: _wait(stop, seconds),
            before_sleep=log,
            retry_error_callback=lambda _state: None,  # stopped: give up quietly
        )
        await retrying(step)


def _partitions(counts: dict[str, int]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t, n in sorted(counts.items()) for p in range(n)]


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
