"""Composition root: builds the notifier from its settings and runs it until stopped.

Nothing connects before `run_notifier` is called; the HTTP server starts even while Kafka
or PostgreSQL are unreachable and reports not ready until both answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

from aiohttp import web

from services.common.aiohttp_ops import bound_port
from services.common.settings import CommonSettings
from services.common.telemetry import Telemetry
from services.notifier.adapters.api_keys import ApiKeys
from services.notifier.adapters.applied_listener import AppliedListener
from services.notifier.adapters.event_feed import KafkaEventFeed
from services.notifier.adapters.postgres import create_pool, ping
from services.notifier.adapters.read_model import PostgresReadModel
from services.notifier.domain.held import HeldEvents
from services.notifier.domain.links import Links
from services.notifier.domain.recent import RecentEvents
from services.notifier.hub import Hub, Limits
from services.notifier.metrics import NotifierMetrics
from services.notifier.settings import NotifierSettings
from services.notifier.web.endpoint import WebsocketEndpoint
from services.notifier.web.routes import WEBSOCKET_PATH, create_web_app

logger = logging.getLogger(__name__)


class FeedStopped(RuntimeError):
    """The Kafka feed ended on its own; the process must restart to see events again."""


async def run_notifier(
    settings: NotifierSettings,
    common: CommonSettings,
    telemetry: Telemetry,
    stop: asyncio.Event,
    *,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set. ``on_started`` gets the bound port."""
    metrics = NotifierMetrics(telemetry.registry)
    pool = await create_pool(common.postgres, settings.pg_pool_max)
    hub = Hub(
        PostgresReadModel(pool, timeout=settings.readiness_timeout_seconds * 2),
        RecentEvents(max_images=settings.recent_images, max_age_seconds=settings.recent_seconds),
        HeldEvents(max_events=settings.max_held_events),
        Links(settings.upload_public_url),
        Limits(
            max_subscriptions=settings.max_subscriptions,
            max_connections_per_owner=settings.max_connections_per_owner,
            snapshot_limit=settings.snapshot_limit,
            unknown_image_grace_seconds=settings.unknown_image_grace_seconds,
            held_check_seconds=settings.held_check_seconds,
        ),
        metrics,
        tracer=telemetry.tracer("services.notifier"),
    )
    listener = AppliedListener(
        common.postgres, hub.applied, lambda: hub.check_held(everything=True)
    )
    feed = KafkaEventFeed(
        common.kafka,
        common.topics,
        metrics,
        client_id=f"clearcut-notifier-{socket.gethostname()}-{os.getpid()}",
        tracer=telemetry.tracer("services.notifier"),
        refresh_seconds=settings.partition_refresh_seconds,
    )
    endpoint = WebsocketEndpoint(hub, ApiKeys(pool), settings, metrics)

    async def postgres_ready() -> None:
        await ping(pool, settings.readiness_timeout_seconds)

    app = create_web_app(
        endpoint,
        {"kafka": feed.ping, "postgres": postgres_ready},
        telemetry.registry,
        readiness_timeout=settings.readiness_timeout_seconds,
    )
    side_tasks: list[asyncio.Task[None]] = []
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    feed_stop = asyncio.Event()
    feed_task: asyncio.Task[None] | None = None
    key_watch = asyncio.create_task(
        endpoint.watch_keys(settings.key_check_seconds), name="key-watch"
    )
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port, backlog=settings.backlog)
        await site.start()
        port = bound_port(runner, settings.port)
        logger.info("notifier listening on ws://%s:%d%s", settings.host, port, WEBSOCKET_PATH)
        side_tasks = [
            asyncio.create_task(listener.run(feed_stop), name="applied-listener"),
            asyncio.create_task(hub.run_look_ups(feed_stop), name="look-ups"),
            asyncio.create_task(
                _check_held(hub, settings.held_check_seconds / 2, feed_stop), name="held-check"
            ),
        ]
        feed_task = asyncio.create_task(feed.run(hub.publish, feed_stop), name="event-feed")
        if on_started is not None:
            on_started(port)
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({stopped, feed_task}, return_when=asyncio.FIRST_COMPLETED)
        if feed_task in done:
            stopped.cancel()
            error = feed_task.exception()
            raise FeedStopped("the event feed stopped") from error
        logger.info("notifier stopping")
    finally:
        key_watch.cancel()
        feed_stop.set()
        await runner.cleanup()  # closes every websocket with 1001 first
        if feed_task is not None and not feed_task.done():
            await feed_task
        await asyncio.gather(*side_tasks, return_exceptions=True)
        await pool.close()


async def _check_held(hub: Hub, every: float, stop: asyncio.Event) -> None:
    """Look up the events held too long (an announcement missed) until ``stop`` is set."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if not stop.is_set():
            try:
                await hub.check_held()
            except Exception:
                logger.exception("looking up held events failed")
