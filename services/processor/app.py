"""The faust side of the worker: the agent on ``image.uploaded`` and the web endpoints.

The agent runs with concurrency 1 (faust's offset commit is wrong with gaps between
concurrent acks) and gets its parallelism from batches and thread pools instead. It takes
batches with ``stream.noack_take(max_batch, within=max_delay)``: the same buffering as
``take``, but acknowledging is left to us. ``take`` acknowledges a batch in a ``finally``
clause, that is also when the batch was cancelled by a shutdown, which would commit
offsets of images that were never processed. Here a batch's events are acknowledged only
after every one of them has its outcome durably written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.common.kafka.faust_app import create_faust_app
from services.common.telemetry import render_metrics
from services.processor.adapters.events import RawMessage
from services.processor.batches import BatchHandler
from services.processor.container import Processor
from services.processor.lifecycle import BatchGate

logger = logging.getLogger(__name__)


def raw_message(event: Any) -> RawMessage:
    """What the pipeline needs of a faust event: the record exactly as consumed."""
    message = event.message
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = list(headers.items())
    return RawMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(message.timestamp * 1000),
        key=message.key,
        value=message.value,
        headers=list(headers),
    )


class _ConsumerLag(Collector):
    """``clearcut_processor_consumer_lag``: end offset minus committed offset per partition."""

    def __init__(self, app: Any, topic: str) -> None:
        self._app = app
        self._topic = topic

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "clearcut_processor_consumer_lag",
            "Messages of the uploads topic not yet committed by this worker, per partition.",
            labels=["topic", "partition"],
        )
        try:
            monitor = self._app.monitor
            ends = dict(monitor.tp_end_offsets or {})
            committed = dict(monitor.tp_committed_offsets or {})
        except Exception:  # noqa: BLE001 - a metric must never break the scrape
            ends, committed = {}, {}
        for tp, end in ends.items():
            if tp.topic == self._topic:
                lag = max(end - committed.get(tp, 0), 0)
                family.add_metric([tp.topic, str(tp.partition)], lag)
        yield family


def create_app(processor: Processor, gate: BatchGate) -> Any:
    """The faust app, its agent and its web views, wired to ``processor``."""
    settings, common = processor.settings, processor.common
    datadir = common.paths.home / "faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = create_faust_app(
        settings.app_id,
        common.kafka,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        # faust keeps a small state directory per app; under the git-ignored home, not the cwd.
        datadir=str(datadir / "{conf.name}-data"),
        # Our own drain decides what finishes; faust must not wait for unacked messages.
        stream_wait_empty=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    )
    topic = app.topic(
        common.topics.uploaded,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    handler = BatchHandler(
        lambda: processor.pipeline, lambda: processor.dead_letters, processor.metrics
    )
    processor.telemetry.registry.register(_ConsumerLag(app, common.topics.uploaded))

    async def process_and_ack(stream: Any, events: list[Any]) -> None:
        await handler.handle([raw_message(event) for event in events])
        for event in events:
            await stream.ack(event)

    async def process_uploads(stream: Any) -> None:
        async for events in stream.noack_take(processor.max_batch, within=settings.max_delay_s):
            if gate.closing:
                await gate.wait_forever()
            await gate.run(process_and_ack(stream, list(events)))

    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "worker_id": processor.worker_id})

    async def readyz(web: Any, request: Any) -> Any:
        checks = {
            "model": processor.ready,
            "kafka": processor.ready and await processor.kafka_reachable(),
            "object_store": await processor.store.reachable(settings.state_bucket),
            "accepting": not gate.closing,
        }
        ready = all(checks.values())
        return web.json(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status=200 if ready else 503,
        )

    async def metrics(web: Any, request: Any) -> Any:
        body, content_type = render_metrics(processor.telemetry.registry)
        # aiohttp refuses a charset inside `content_type`; the header carries it verbatim.
        return web.bytes(body, headers={"Content-Type": content_type})

    # Registered by calls rather than decorators: faust's decorators are untyped.
    app.agent(topic, concurrency=1)(process_uploads)
    app.page("/healthz")(healthz)
    app.page("/readyz")(readyz)
    app.page("/metrics")(metrics)
    return app
