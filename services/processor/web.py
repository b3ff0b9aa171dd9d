"""The worker's HTTP endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (aiohttp)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aiohttp import web
from aiokafka import TopicPartition
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.common.health import OK, health_body
from services.common.telemetry import render_metrics
from services.processor.composition import Processor


class ConsumerLag(Collector):
    """``clearcut_processor_consumer_lag``: end offset minus committed offset per partition."""

    def __init__(self, lags: Callable[[], dict[TopicPartition, int]]) -> None:
        self._lags = lags

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "clearcut_processor_consumer_lag",
            "Messages of the uploads topic not yet committed by this worker, per partition.",
            labels=["topic", "partition"],
        )
        try:
            lags = self._lags()
        except Exception:  # noqa: BLE001 - a metric must never break the scrape
            lags = {}
        for tp, lag in lags.items():
            family.add_metric([tp.topic, str(tp.partition)], lag)
        yield family


def create_web_app(processor: Processor, closing: Callable[[], bool]) -> web.Application:
    settings = processor.settings

    async def healthz(request: web.Request) -> web.Response:
        body, status = health_body()
        return web.json_response(body, status=status)

    async def readyz(request: web.Request) -> web.Response:
        flow = processor.flow_or_none
        waiting = flow.waiting_on_dependency if flow is not None else 0
        if not processor.ready:
            kafka = "checked once the model is ready"
        else:
            kafka = OK if await processor.kafka_reachable() else "unreachable"
        stored = await processor.store.reachable(settings.state_bucket)
        body, status = health_body(
            {
                "model": OK if processor.ready else "loading and warming up",
                "kafka": kafka,
                "object_store": OK if stored else "unreachable",
                "dependencies": OK if waiting == 0 else f"{waiting} task(s) wait for one",
                "accepting": "shutting down" if closing() else OK,
            }
        )
        return web.json_response(body, status=status)

    async def metrics(request: web.Request) -> web.Response:
        flow = processor.flow_or_none
        if flow is not None:
            processor.metrics.outage_seconds.set(flow.outage_seconds())
        body, content_type = render_metrics(processor.telemetry.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
