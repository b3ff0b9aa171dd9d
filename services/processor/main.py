"""Entrypoint of ``clearcut processor``: telemetry, the composition root, the consumer loop.

Start order: the web endpoints (``/readyz`` says "not ready" meanwhile), the processor's own
resources (producer, buckets, default model loaded and warmed up), then the consumer joins
the group, so a worker takes work only when it can do it. Stop order (SIGTERM or SIGINT): no
new records; the tasks in flight get ``SHUTDOWN_GRACE_S`` to finish, the rest are abandoned
unacknowledged; the final offsets are committed and the group is left; then the producer is
flushed and closed, and the trace exporter.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiokafka import AIOKafkaConsumer

from services.common.kafka.consumer import consumer_config
from services.common.ports import require_free
from services.common.settings import CommonSettings
from services.common.telemetry import setup_telemetry
from services.processor.composition import Processor, build
from services.processor.consumer import UploadsConsumer
from services.processor.settings import ProcessorSettings
from services.processor.web import ConsumerLag, create_web_app, start_web

logger = logging.getLogger(__name__)


def create_consumer(processor: Processor) -> AIOKafkaConsumer:
    settings, common = processor.settings, processor.common
    session_timeout_ms = int(settings.session_timeout_s * 1000)
    return AIOKafkaConsumer(
        **consumer_config(
            common.kafka,
            settings.app_id,
            f"{settings.app_id}-{processor.worker_id}",
            low_latency=True,
        ),
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=min(3000, session_timeout_ms // 3),
    )


async def serve(processor: Processor, stop: asyncio.Event) -> None:
    settings = processor.settings
    closing = False
    runner = await start_web(
        create_web_app(processor, lambda: closing), settings.web_host, settings.web_port
    )
    consumer: AIOKafkaConsumer | None = None
    uploads: UploadsConsumer | None = None
    try:
        await processor.start()
        if stop.is_set():
            return
        consumer = create_consumer(processor)
        uploads = UploadsConsumer(
            consumer,
            processor.flow,
            processor.metrics,
            rebalance_grace_s=settings.rebalance_grace_s,
        )
        processor.telemetry.registry.register(ConsumerLag(uploads.lag))
        consumer.subscribe([processor.common.topics.uploaded], listener=uploads)
        await consumer.start()
        await uploads.run(stop)
    finally:
        closing = True
        if uploads is not None:
            logger.info("stopping: no new work; finishing what is in flight")
            await uploads.drain(settings.shutdown_grace_s)
        if consumer is not None:
            await consumer.stop()
        await processor.stop()
        await runner.cleanup()


def run(settings: ProcessorSettings | None = None, common: CommonSettings | None = None) -> None:
    """Run the worker until SIGTERM or SIGINT."""
    settings = settings or ProcessorSettings()
    common = common or CommonSettings()
    require_free(
        "the processor", settings.web_host, settings.web_port, "CLEARCUT_PROCESSOR_WEB_PORT"
    )
    telemetry = setup_telemetry("processor", common.telemetry)
    processor = build(settings, common, telemetry)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(processor, stop)

    try:
        asyncio.run(main())
    finally:
        telemetry.shutdown()
