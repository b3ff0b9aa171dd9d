"""The composition root of the upload API: builds every adapter from the settings, and
closes them again. Nothing connects before `build_services` is entered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from services.common.kafka.producer import EventPublisher, create_producer
from services.common.model_catalogue import ModelCatalogue, load_catalogue
from services.common.settings import CommonSettings
from services.upload.adapters.blob_store import MinioBlobStore, create_minio
from services.upload.adapters.errors import Unavailable
from services.upload.adapters.key_gate import KeyGate
from services.upload.adapters.outcome_feed import KafkaOutcomeFeed
from services.upload.adapters.postgres import create_pool
from services.upload.adapters.read_model import ReadModel
from services.upload.adapters.topic_witness import TopicWitness
from services.upload.adapters.uploads_ledger import UploadLedger
from services.upload.adapters.url_fetch import UrlFetcher
from services.upload.archives import ArchiveService
from services.upload.body_places import BodyPlaces
from services.upload.deletions import DeletionService
from services.upload.domain.image_check import ImageLimits
from services.upload.domain.limits import KeyLimits
from services.upload.domain.retention import Retention
from services.upload.images import ImageQueries
from services.upload.metrics import UploadMetrics
from services.upload.removebg import RemoveBgService
from services.upload.reprocessing import ReprocessService
from services.upload.settings import UploadSettings
from services.upload.uploads import UploadPolicy, UploadService
from services.upload.waiting import Outcomes

logger = logging.getLogger(__name__)
SOURCE = "/clearcut/upload"


@dataclass
class Services:
    settings: UploadSettings
    common: CommonSettings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    blobs: MinioBlobStore
    ledger: UploadLedger
    witness: TopicWitness
    read_model: ReadModel
    uploads: UploadService
    images: ImageQueries
    reprocess: ReprocessService
    deletions: DeletionService
    metrics: UploadMetrics
    models: ModelCatalogue
    archives: ArchiveService
    gate: KeyGate
    bodies: BodyPlaces
    removebg: RemoveBgService
    outcome_feed: KafkaOutcomeFeed

    async def readiness(self) -> dict[str, str]:
        """`ok` or the reason, per dependency, each checked within the readiness timeout."""
        timeout = self.settings.readiness_timeout_seconds
        checks = {
            "postgres": self.read_model.ping(),
            "object_store": self.blobs.ping(self.common.s3.bucket_originals),
            "kafka": self._kafka_ping(),
        }
        names = list(checks)
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(c, timeout) for c in checks.values()), return_exceptions=True
        )
        return {
            name: "ok" if outcome is None else (str(outcome) or type(outcome).__name__)
            for name, outcome in zip(names, outcomes, strict=True)
        }

    async def _kafka_ping(self) -> None:
        if not await self.producer.client.force_metadata_update():
            raise Unavailable("kafka", "no broker answered a metadata request")

    async def sweep_abandoned(self) -> list[str]:
        await self.gate.sweep()
        removed = await self.ledger.sweep(
            self.settings.pending_timeout_seconds, self.blobs.delete, self.witness.published
        )
        if removed:
            self.metrics.swept.inc(len(removed))
            logger.warning("removed the objects of %d abandoned uploads", len(removed))
        return removed


async def _sweep_forever(services: Services) -> None:
    while True:
        await asyncio.sleep(services.settings.sweep_interval_seconds)
        try:
            await services.sweep_abandoned()
        except Unavailable:
            logger.warning("sweep skipped: a dependency is unavailable", exc_info=True)


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until its clean-up (closing its consumer) is done."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def build_services(
    settings: UploadSettings, common: CommonSettings, metrics: UploadMetrics, *, sweep: bool = True
) -> AsyncIterator[Services]:
    models = load_catalogue(settings.model_registry_file)
    executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="upload-io")
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(executor.shutdown, wait=False, cancel_futures=True)
        pool = await create_pool(common.postgres, settings.pg_pool_min, settings.pg_pool_max)
        stack.push_async_callback(pool.close)
        producer = create_producer(common.kafka, "clearcut-upload")
        await producer.start()
        stack.push_async_callback(producer.stop)
        publisher = EventPublisher(producer, common.topics, SOURCE)
        blobs = MinioBlobStore(create_minio(common.s3, settings.workers * 2), executor)
        ledger = UploadLedger(pool, common.retention.idempotency_key_hours * 3600)
        read_model = ReadModel(pool)
        uploads = UploadService(
            blobs=blobs,
            publisher=publisher,
            ledger=ledger,
            executor=executor,
            policy=UploadPolicy(
                bucket=common.s3.bucket_originals,
                limits=ImageLimits(settings.max_pixels, settings.min_dimension),
                publish_timeout=settings.publish_timeout_seconds,
            ),
        )
        deletions = DeletionService(
            read_model=read_model,
            ledger=ledger,
            publisher=publisher,
            publish_timeout=settings.publish_timeout_seconds,
        )
        outcomes = Outcomes(settings.removebg_max_waiting)
        metrics.removebg_waiting.set_function(lambda: outcomes.slots_in_use)
        outcome_feed = KafkaOutcomeFeed(
            common.kafka, common.topics, client_id="clearcut-upload-outcomes"
        )
        images = ImageQueries(
            read_model,
            ledger,
            publisher,
            settings.publish_timeout_seconds,
            Retention(common.retention.originals_seconds, common.retention.results_seconds),
        )
        services = Services(
            settings=settings,
            common=common,
            pool=pool,
            producer=producer,
            blobs=blobs,
            ledger=ledger,
            witness=TopicWitness(common.kafka, common.topics.uploaded),
            read_model=read_model,
            uploads=uploads,
            images=images,
            reprocess=ReprocessService(
                images=images,
                ledger=ledger,
                read_model=read_model,
                publisher=publisher,
                publish_timeout=settings.publish_timeout_seconds,
                known_models=models.names,
            ),
            deletions=deletions,
            metrics=metrics,
            models=models,
            archives=ArchiveService(images, blobs, executor),
            gate=KeyGate(
                pool,
                KeyLimits(
                    settings.key_default_rate_per_minute,
                    settings.key_default_max_concurrent,
                    settings.key_default_monthly_megapixels,
                ),
                settings.upload_slot_lease_seconds,
            ),
            bodies=BodyPlaces(
                settings.max_buffered_bodies,
                settings.body_wait_seconds,
                settings.retry_after_seconds,
            ),
            removebg=RemoveBgService(
                uploads=uploads,
                outcomes=outcomes,
                deletions=deletions,
                images=images,
                blobs=blobs,
                executor=executor,
                fetcher=UrlFetcher(
                    allow_private=settings.removebg_image_url_allow_private,
                    timeout=settings.removebg_image_url_timeout_seconds,
                    max_bytes=settings.max_body_bytes,
                )
                if settings.removebg_image_url
                else None,
                timeout=settings.removebg_timeout_seconds,
                max_bytes=settings.max_body_bytes,
                ready=outcome_feed.ready,
            ),
            outcome_feed=outcome_feed,
        )
        feed = asyncio.create_task(outcome_feed.run(outcomes.deliver), name="upload-outcomes")
        stack.push_async_callback(_cancelled, feed)
        if sweep:
            sweeper = asyncio.create_task(_sweep_forever(services), name="upload-sweep")
            stack.callback(sweeper.cancel)
        yield services
