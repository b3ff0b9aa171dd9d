"""The composition root: every adapter of the processor built from settings, nothing else.

Building connects to nothing; ``start`` connects (producer, buckets) and loads the default
model (verify or fetch, session, warm-up); ``stop`` flushes and closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
from aiokafka import AIOKafkaProducer

from schemas.values import InferenceRuntime
from services.common.kafka.producer import EventPublisher, create_producer
from services.common.settings import CommonSettings
from services.common.telemetry import Telemetry
from services.processor.adapters.blobstore import MinioBlobStore, RetryPolicy
from services.processor.adapters.events import DeadLetters, Publisher, RetryingPublisher
from services.processor.adapters.routing import RoutingSource
from services.processor.adapters.s3client import s3_client
from services.processor.adapters.state import ProcessorState
from services.processor.flow import Flow, FlowLimits, PipelineConfig
from services.processor.metrics import ProcessorMetrics
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.models.registry import ModelSpec
from services.processor.runtime.choice import choose_runtime, probe_torch_cuda
from services.processor.runtime.model import LoadedModel
from services.processor.runtime.pool import ModelPool, cached_session_factory
from services.processor.runtime.session import load_session, onnxruntime_providers
from services.processor.runtime.torch_session import load_torch_model
from services.processor.settings import ProcessorSettings

logger = logging.getLogger(__name__)

SOURCE = "/clearcut/processor"


@dataclass
class Processor:
    settings: ProcessorSettings
    common: CommonSettings
    telemetry: Telemetry
    worker_id: str
    metrics: ProcessorMetrics
    models: ModelPool
    store: MinioBlobStore
    make_flow: Callable[[Publisher, DeadLetters], Flow]
    executors: list[ThreadPoolExecutor] = field(default_factory=list)
    ready: bool = False
    _producer: AIOKafkaProducer | None = None
    _flow: Flow | None = None

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the processor is not started")
        return self._producer

    @property
    def flow(self) -> Flow:
        if self._flow is None:
            raise RuntimeError("the processor is not started")
        return self._flow

    @property
    def flow_or_none(self) -> Flow | None:
        return self._flow

    async def start(self) -> None:
        """Connect, then load and warm up the default model. Must run on the worker's loop."""
        settings, common = self.settings, self.common
        producer = create_producer(common.kafka, f"{settings.app_id}-{self.worker_id}")
        self._producer = producer
        publisher = EventPublisher(producer, common.topics, SOURCE)
        await self.store.ensure_bucket(settings.state_bucket)
        await producer.start()
        session = await self.models.get(None)
        self.report_model(session)
        self._flow = self.make_flow(
            RetryingPublisher(publisher, retry_policy(settings)),
            DeadLetters(producer, common.topics.dlq, settings.app_id),
        )
        self.ready = True
        logger.info(
            "processor %s ready: model %s %s on %s %s, batches of up to %d",
            self.worker_id,
            session.ref.name,
            session.ref.version,
            session.runtime.value,
            session.provider.value,
            session.max_batch,
        )

    def report_model(self, session: LoadedModel) -> None:
        self.metrics.model_info.labels(
            session.ref.name,
            session.ref.version,
            session.ref.sha256,
            session.runtime.value,
            session.provider.value,
            str(session.max_batch),
        ).set(1)

    @property
    def max_batch(self) -> int:
        session = self.models.default
        return session.max_batch if session is not None else 1

    async def stop(self) -> None:
        self.ready = False
        if self._flow is not None:
            await self._flow.cancel_all()
        if self._producer is not None:
            await self._producer.stop()
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)

    async def kafka_reachable(self) -> bool:
        try:
            async with asyncio.timeout(2.0):
                await self.producer.client.fetch_all_metadata()
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False
        return True


def retry_policy(settings: ProcessorSettings) -> RetryPolicy:
    return RetryPolicy(settings.retry_attempts, settings.retry_initial_s, settings.retry_max_s)


def flow_limits(settings: ProcessorSettings, max_batch: int) -> FlowLimits:
    max_decoded = settings.max_decoded or 2 * max_batch + 1
    return FlowLimits(
        max_in_flight=max(settings.max_in_flight, max_decoded),
        max_decoded=max_decoded,
        max_delay_s=settings.max_delay_s,
        retry_initial_s=settings.retry_initial_s,
        retry_max_s=settings.outage_retry_max_s,
        retry_deadline_s=settings.retry_deadline_s,
    )


def _lower_priority(nice: int) -> None:
    """Raise the calling thread's niceness by ``nice`` (on Linux a thread has its own)."""
    if nice:
        os.nice(nice)


def cpu_pool(settings: ProcessorSettings, prefix: str = "processor-cpu") -> ThreadPoolExecutor:
    """The CPU pool (decode, resize, compose, encode): ``CPU_THREADS`` threads at
    ``CPU_NICE``, so that CPU inference, on the inference thread and ONNX Runtime's own
    threads, is not slowed by the images being prepared and finished beside it."""
    return ThreadPoolExecutor(
        settings.cpu_threads,
        thread_name_prefix=prefix,
        initializer=_lower_priority,
        initargs=(settings.cpu_nice,),
    )


def build(settings: ProcessorSettings, common: CommonSettings, telemetry: Telemetry) -> Processor:
    """Every part of the worker; nothing connects until ``Processor.start``."""
    # Parallelism comes from the CPU pool's threads (one image each), not from inside OpenCV.
    cv2.setNumThreads(1)
    worker_id = settings.resolved_worker_id()
    io = ThreadPoolExecutor(settings.io_threads, thread_name_prefix="processor-io")
    cpu = cpu_pool(settings)
    inference = ThreadPoolExecutor(1, thread_name_prefix="processor-inference")
    metrics = ProcessorMetrics(telemetry.registry)
    store = MinioBlobStore(s3_client(common.s3), io, retry_policy(settings))

    runtime = choose_runtime(
        settings.runtime, settings.provider, onnxruntime_providers(), probe_torch_cuda
    )

    def load(spec: ModelSpec, path: Path) -> LoadedModel:
        if runtime is InferenceRuntime.TORCH:
            return load_torch_model(spec, path, settings)
        return load_session(spec, path, settings)

    factory = cached_session_factory(configured_cache(settings, common), load, settings.warmup_runs)
    models = ModelPool(configured_registry(settings), factory, inference)
    config = PipelineConfig(
        worker_id=worker_id,
        results_bucket=common.s3.bucket_results,
        max_pixels=settings.max_pixels,
        png_level=settings.png_compress_level,
        webp_quality=settings.webp_quality,
        reuse_results=settings.reuse_results,
        foreground_estimation=settings.foreground_estimation,
        mask_upsampling=settings.mask_upsampling,
    )

    routing = RoutingSource(
        store,
        settings.state_bucket,
        lambda name: name in models.registry.names,
        settings.routing_refresh_seconds,
    )

    def make_flow(publisher: Publisher, dead_letters: DeadLetters) -> Flow:
        max_batch = models.default.max_batch if models.default is not None else 1
        return Flow(
            config,
            flow_limits(settings, max_batch),
            models=models,
            store=store,
            state=ProcessorState(store, settings.state_bucket),
            publisher=publisher,
            dead_letters=lambda: dead_letters,
            cpu=cpu,
            inference=inference,
            tracer=telemetry.tracer("clearcut.processor"),
            metrics=metrics,
            routing=routing,
        )

    return Processor(
        settings=settings,
        common=common,
        telemetry=telemetry,
        worker_id=worker_id,
        metrics=metrics,
        models=models,
        store=store,
        make_flow=make_flow,
        executors=[io, cpu, inference],
    )
