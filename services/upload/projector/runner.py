"""The projector's process: consume every image topic as one consumer group and apply each
event to the read model (see `projection`). Commits follow the effect, so delivery is at
least once and the applied-event record makes it exactly once in the read model.

The purger (`purger`) runs in the same process: it removes the objects of deleted images
that the projection asked it to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from prometheus_client import CollectorRegistry, Counter

from schemas import ImageDeleted
from services.common.envelope import EventEnvelope
from services.common.kafka.consumer import EventConsumer, Handler, consumer_config
from services.common.kafka.producer import create_producer
from services.common.settings import CommonSettings
from services.upload.adapters.blob_store import MinioBlobStore, create_minio
from services.upload.adapters.postgres import create_pool
from services.upload.projector.projection import Projection
from services.upload.projector.purger import PurgeBuckets, Purger, purge_forever
from services.upload.settings import UploadSettings

logger = logging.getLogger(__name__)


class ProjectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "clearcut_projector_events",
            "Events seen by the projector, by type and outcome (applied or duplicate).",
            ["type", "outcome"],
            registry=registry,
        )


def create_consumer(common: CommonSettings, group_id: str) -> AIOKafkaConsumer:
    """A consumer of all five event topics. Range assignment gives one member the same
    partition number of every topic, hence every event of an image."""
    return AIOKafkaConsumer(
        *common.topics.event_topics,
        **consumer_config(
            common.kafka, group_id, f"clearcut-projector-{socket.gethostname()}", low_latency=True
        ),
        partition_assignment_strategy=(RangePartitionAssignor,),
    )


def handler_for(
    projection: Projection,
    metrics: ProjectorMetrics | None = None,
    *,
    on_deleted: Callable[[], None] | None = None,
) -> Handler:
    async def handle(envelope: EventEnvelope) -> None:
        applied = await projection.apply(envelope.event)
        if applied and on_deleted is not None and isinstance(envelope.event, ImageDeleted):
            on_deleted()
        if metrics is not None:
            metrics.events.labels(
                type(envelope.event).__name__, "applied" if applied else "duplicate"
            ).inc()

    return handle


async def run_projector(
    settings: UploadSettings,
    common: CommonSettings,
    stop: asyncio.Event,
    *,
    registry: CollectorRegistry | None = None,
) -> None:
    """Run until ``stop`` is set."""
    pool = await create_pool(common.postgres, settings.pg_pool_min, settings.pg_pool_max)
    producer = create_producer(common.kafka, "clearcut-projector")  # for dead letters
    consumer = create_consumer(common, settings.projector_group)
    executor = ThreadPoolExecutor(2, thread_name_prefix="purger-io")
    purger = Purger(
        pool,
        MinioBlobStore(create_minio(common.s3, 4), executor),
        PurgeBuckets(
            originals=common.s3.bucket_originals,
            results=common.s3.bucket_results,
            content_index=settings.content_index_bucket,
        ),
        requester=common.topics.prefix,
    )
    purging: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()

    def deleted() -> None:
        loop.call_later(settings.purge_delay_seconds, purger.wake.set)

    try:
        await producer.start()
        await consumer.start()
        purging = asyncio.create_task(
            purge_forever(purger, settings.purge_interval_seconds, stop), name="purger"
        )
        metrics = ProjectorMetrics(registry or CollectorRegistry())
        projection = Projection(
            pool, purge_delay_seconds=settings.purge_delay_seconds, requester=common.topics.prefix
        )
        runner = EventConsumer(
            consumer,
            producer,
            common.topics,
            handler_for(projection, metrics, on_deleted=deleted),
            group_id=settings.projector_group,
        )
        logger.info(
            "projector consuming %s as group %s",
            ", ".join(common.topics.event_topics),
            settings.projector_group,
        )
        await runner.run(stop)
    finally:
        if purging is not None:
            purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purging
        executor.shutdown(wait=False, cancel_futures=True)
        await consumer.stop()
        await producer.stop()
        await pool.close()
