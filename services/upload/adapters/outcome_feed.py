"""Every ProcessingCompleted and ProcessingFailed, as soon as it is on Kafka, for this API
process: what the synchronous remove.bg endpoint waits on.

Each API process must see the outcomes of the uploads it is waiting for, wherever they
land, so there is no consumer group: the feed assigns itself every partition of the two
topics and starts at their end. New partitions are picked up from their beginning. Records
that are not valid events are skipped (their dead letters belong to the projector).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas import ProcessingCompleted, ProcessingFailed
from services.common.envelope import ContractError, decode
from services.common.kafka.admin import describe_topics
from services.common.kafka.consumer import consumer_config
from services.common.settings import KafkaSettings, TopicNames

logger = logging.getLogger(__name__)

Deliver = Callable[[ProcessingCompleted | ProcessingFailed], None]
_RETRY_SECONDS = 1.0
_REFRESH_SECONDS = 30.0


class KafkaOutcomeFeed:
    def __init__(self, kafka: KafkaSettings, topics: TopicNames, *, client_id: str) -> None:
        self._kafka = kafka
        self._topics = [topics.completed, topics.failed]
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: dict[str, int] = {}
        self.ready = asyncio.Event()

    async def run(self, deliver: Deliver) -> None:
        """Consume until cancelled; retries while Kafka or the topics are missing."""
        try:
            while not self.ready.is_set():
                try:
                    await self._start_from_end()
                except (KafkaError, OSError, LookupError) as exc:
                    logger.warning("outcome feed not started, retrying: %s", exc)
                    await self._close()
                    await asyncio.sleep(_RETRY_SECONDS)
            await self._consume(deliver)
        finally:
            self.ready.clear()
            await self._close()

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _start_from_end(self) -> None:
        consumer = AIOKafkaConsumer(
            **consumer_config(
                self._kafka, None, self._client_id, offset_reset="latest", low_latency=True
            )
        )
        self._consumer = consumer
        await consumer.start()
        counts = await describe_topics(self._kafka, self._topics)
        missing = [t for t in self._topics if not counts.get(t)]
        if missing:
            raise LookupError(f"topics not found: {', '.join(missing)}")
        partitions = _partitions(counts)
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        # Resolve the end offsets now: every outcome produced after `ready` is seen.
        for tp in partitions:
            await consumer.position(tp)
        self._partitions = counts
        self.ready.set()
        logger.info("outcome feed consuming %s from their end", ", ".join(self._topics))

    async def _consume(self, deliver: Deliver) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + _REFRESH_SECONDS
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500)
            except KafkaError as exc:
                logger.warning("fetching outcomes failed, retrying: %s", exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        event = decode(record.value, list(record.headers or ())).event
                    except ContractError as exc:
                        logger.warning("skipping invalid record on %s: %s", record.topic, exc)
                        continue
                    if isinstance(event, ProcessingCompleted | ProcessingFailed):
                        deliver(event)
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + _REFRESH_SECONDS
                with contextlib.suppress(KafkaError, OSError):
                    await self._pick_up_new_partitions(consumer)

    async def _pick_up_new_partitions(self, consumer: AIOKafkaConsumer) -> None:
        counts = await describe_topics(self._kafka, self._topics)
        if all(counts.get(t, 0) <= self._partitions.get(t, 0) for t in self._topics):
            return
        positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        merged = {t: max(counts.get(t, 0), self._partitions.get(t, 0)) for t in self._topics}
        partitions = _partitions(merged)
        consumer.assign(partitions)
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        await consumer.seek_to_beginning(*[tp for tp in partitions if tp not in positions])
        self._partitions = merged


def _partitions(counts: dict[str, int]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t, n in sorted(counts.items()) for p in range(n)]
