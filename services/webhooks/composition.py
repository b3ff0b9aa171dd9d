"""Composition root: builds the webhooks service from its settings and runs it until stopped.

Two loops share one process: the intake (a consumer group on `image.uploaded` and the
completed and failed topics, committing after each event's deliveries are stored) and the
dispatcher (sending what is due). Nothing connects before `run_webhooks` is called; the
health server starts even while Kafka or PostgreSQL are unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from aiohttp import web
from aiokafka import AIOKafkaConsumer
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from services.common.aiohttp_ops import bound_port, ops_app
from services.common.kafka.consumer import EventConsumer, consumer_config
from services.common.kafka.producer import create_producer
from services.common.settings import CommonSettings
from services.common.telemetry import Telemetry
from services.webhooks.adapters.deliveries import PostgresDeliveries
from services.webhooks.adapters.postgres import create_pool, ping
from services.webhooks.adapters.sender import HttpSender
from services.webhooks.dispatcher import Dispatcher
from services.webhooks.intake import intake_handler
from services.webhooks.metrics import WebhookMetrics
from services.webhooks.settings import WebhooksSettings

logger = logging.getLogger(__name__)


def consumed_topics(common: CommonSettings) -> list[str]:
    topics = common.topics
    return [topics.uploaded, topics.completed, topics.failed]


async def run_webhooks(
    settings: WebhooksSettings,
    common: CommonSettings,
    telemetry: Telemetry,
    stop: asyncio.Event,
    *,
    on_started: Callable[[int], None] | None = None,
) -> None:
    metrics = WebhookMetrics(telemetry.registry)
    pool = await create_pool(common.postgres, settings.pg_pool_max)
    store = PostgresDeliveries(pool, sender=common.topics.prefix)
    sender = HttpSender(settings.target_policy, settings.timeout_seconds, settings.concurrency)
    dispatcher = Dispatcher(
        store,
        sender,
        targets=settings.target_policy,
        retries=settings.retry_policy,
        metrics=metrics,
        concurrency=settings.concurrency,
        lease_seconds=settings.lease_seconds,
        poll_interval_seconds=settings.poll_interval_seconds,
        read_model_wait_seconds=settings.read_model_wait_seconds,
        tracer=telemetry.tracer("services.webhooks"),
        retention_seconds=settings.log_retention_days * 86400,
    )
    client_id = f"clearcut-webhooks-{socket.gethostname()}-{os.getpid()}"
    producer = create_producer(common.kafka, "clearcut-webhooks")  # for dead letters
    # Range assignment: one member gets the same partition number of every topic, hence
    # an upload's callback and its outcome.
    consumer = AIOKafkaConsumer(
        *consumed_topics(common),
        **consumer_config(common.kafka, settings.group, client_id, low_latency=True),
        partition_assignment_strategy=(RangePartitionAssignor,),
    )

    async def kafka_ready() -> None:
        if not await producer.client.force_metadata_update():
            raise ConnectionError("no broker answered a metadata request")

    async def postgres_ready() -> None:
        await ping(pool, settings.readiness_timeout_seconds)

    app = ops_app(
        {"kafka": kafka_ready, "postgres": postgres_ready},
        telemetry.registry,
        readiness_timeout=settings.readiness_timeout_seconds,
    )
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    tasks: list[asyncio.Task[None]] = []
    inner_stop = asyncio.Event()
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = bound_port(runner, settings.port)
        logger.info("webhooks health and metrics on http://%s:%d", settings.host, port)
        await sender.start()
        await producer.start()
        await consumer.start()
        events = EventConsumer(
            consumer,
            producer,
            common.topics,
            intake_handler(store, settings.upload_public_url, metrics, dispatcher.wake),
            group_id=settings.group,
            tracer=telemetry.tracer("services.webhooks"),
        )
        tasks = [
            asyncio.create_task(events.run(inner_stop), name="webhooks-intake"),
            asyncio.create_task(dispatcher.run(inner_stop), name="webhooks-dispatcher"),
        ]
        logger.info(
            "webhooks consuming %s as group %s", ", ".join(consumed_topics(common)), settings.group
        )
        if on_started is not None:
            on_started(port)
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({stopped, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        for task in done:
            if task is not stopped and task.exception() is not None:
                raise RuntimeError(f"{task.get_name()} stopped") from task.exception()
        logger.info("webhooks stopping")
    finally:
        inner_stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, settings.timeout_seconds + 5)
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        await sender.close()
        await pool.close()
