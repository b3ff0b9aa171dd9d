"""Whether an upload's ImageUploaded is on the uploads topic: proof from Kafka itself.

The sweep asks this before it deletes the original of an upload left ``pending``: the
event may well be out although the ledger never heard (``mark_published`` failed after the
broker acknowledged, or the process died in between) and the projector, lagging, does not
know the image yet. An event is keyed by its image id, so only one partition can hold it;
that partition is read from the record timestamp of the reservation (minus a margin for
clock skew) to its end. When Kafka cannot answer, the sweep deletes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from services.common.kafka.admin import describe_topics
from services.common.kafka.consumer import consumer_config
from services.common.settings import KafkaSettings
from services.upload.adapters.errors import Unavailable

SKEW_MS = 60_000
READ_WITHIN_S = 30.0


class TopicWitness:
    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic

    async def published(self, candidates: Mapping[str, datetime]) -> set[str]:
        """The ids among ``candidates`` (id -> when it was reserved) whose event is on the
        topic. Raises ``Unavailable`` when Kafka cannot say."""
        if not candidates:
            return set()
        consumer = AIOKafkaConsumer(**consumer_config(self._kafka, None, "clearcut-upload-sweep"))
        try:
            await consumer.start()
            return await self._search(consumer, candidates)
        except (KafkaError, TimeoutError, OSError) as exc:
            raise Unavailable("kafka", f"cannot read {self._topic}: {exc!r}") from exc
        finally:
            await consumer.stop()

    async def _search(
        self, consumer: AIOKafkaConsumer, candidates: Mapping[str, datetime]
    ) -> set[str]:
        count = (await describe_topics(self._kafka, [self._topic])).get(self._topic, 0)
        if not count:
            raise Unavailable("kafka", f"no partitions known for {self._topic}")
        numbers = list(range(count))
        partitioner = DefaultPartitioner()
        wanted: dict[TopicPartition, set[bytes]] = {}
        since: dict[TopicPartition, int] = {}
        for image_id, reserved_at in candidates.items():
            key = image_id.encode("utf-8")
            tp = TopicPartition(self._topic, partitioner(key, numbers, numbers))
            wanted.setdefault(tp, set()).add(key)
            at = int(reserved_at.timestamp() * 1000) - SKEW_MS
            since[tp] = min(since.get(tp, at), at)
        consumer.assign(list(wanted))
        starts = await consumer.offsets_for_times(since)
        ends = await consumer.end_offsets(list(wanted))
        remaining = set()
        for tp in wanted:
            start = starts.get(tp)
            offset = start.offset if start is not None else ends[tp]
            consumer.seek(tp, offset)
            if offset < ends[tp]:
                remaining.add(tp)
        found: set[str] = set()
        deadline = time.monotonic() + READ_WITHIN_S
        while remaining:
            if time.monotonic() > deadline:
                raise Unavailable("kafka", f"reading {self._topic} took over {READ_WITHIN_S} s")
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if record.key in wanted[tp]:
                        found.add(record.key.decode("utf-8"))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return found
