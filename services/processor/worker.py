"""Entrypoint of ``clearcut processor``: telemetry, the composition root, the faust worker.

Start order: the processor's own resources (producer, buckets, default model loaded and
warmed up) before the faust app, so a worker joins the consumer group only when it can
work. Stop order: drain the batch in flight (bounded by the grace period), then the faust
app (consumer commits what was acknowledged), then the processor (producer flushed and
closed) and the trace exporter.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from mode import Service

from services.common.settings import CommonSettings
from services.common.telemetry import setup_telemetry
from services.processor.app import create_app
from services.processor.container import Processor, build
from services.processor.lifecycle import BatchGate
from services.processor.settings import ProcessorSettings

logger = logging.getLogger(__name__)


class ProcessorResources(Service):
    """Starts the processor before the faust app and stops it after."""

    def __init__(self, processor: Processor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processor = processor

    async def on_start(self) -> None:
        await self.processor.start()

    async def on_stop(self) -> None:
        await self.processor.stop()
        self.processor.telemetry.shutdown()


class ProcessorWorker(faust.Worker):
    """A faust worker that lets the batch in flight finish before faust stops consuming."""

    def __init__(self, app: Any, *services: Any, gate: BatchGate, grace_s: float, **kw: Any):
        super().__init__(app, *services, **kw)
        self._gate = gate
        self._grace_s = grace_s

    async def on_stop(self) -> None:
        finished = await self._gate.drain(self._grace_s)
        if finished is not None:
            logger.info("batch in flight %s", "finished" if finished else "abandoned")
        await super().on_stop()


def run(settings: ProcessorSettings | None = None, common: CommonSettings | None = None) -> None:
    """Run the worker until SIGTERM or SIGINT; exits the process."""
    settings = settings or ProcessorSettings()
    common = common or CommonSettings()
    telemetry = setup_telemetry("processor", common.telemetry)
    processor = build(settings, common, telemetry)
    gate = BatchGate()
    app = create_app(processor, gate)
    worker = ProcessorWorker(
        app,
        ProcessorResources(processor),
        gate=gate,
        grace_s=settings.shutdown_grace_s,
        loglevel=common.telemetry.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    worker.execute_from_commandline()
