"""The webhooks process: telemetry, event loop and signal handling around `run_webhooks`."""

from __future__ import annotations

import asyncio
import signal

from services.common.ports import require_free
from services.common.settings import CommonSettings
from services.common.telemetry import Telemetry, setup_telemetry
from services.webhooks.composition import run_webhooks
from services.webhooks.settings import WebhooksSettings


def serve(settings: WebhooksSettings | None = None) -> None:
    """Run until SIGINT or SIGTERM."""
    settings = settings or WebhooksSettings()
    require_free("the webhooks service", settings.host, settings.port, "CLEARCUT_WEBHOOKS_PORT")
    common = CommonSettings()
    telemetry = setup_telemetry("webhooks", common.telemetry)
    try:
        asyncio.run(_run(settings, common, telemetry))
    finally:
        telemetry.shutdown()


async def _run(settings: WebhooksSettings, common: CommonSettings, telemetry: Telemetry) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_webhooks(settings, common, telemetry, stop)
