"""The notifier process: telemetry, event loop and signal handling around `run_notifier`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from services.common.ports import require_free
from services.common.settings import CommonSettings
from services.common.telemetry import Telemetry, setup_telemetry
from services.notifier.composition import run_notifier
from services.notifier.settings import NotifierSettings

logger = logging.getLogger(__name__)


def serve(settings: NotifierSettings | None = None) -> None:
    """Run the websocket server until SIGINT or SIGTERM."""
    settings = settings or NotifierSettings()
    require_free("the notifier", settings.host, settings.port, "CLEARCUT_NOTIFIER_PORT")
    common = CommonSettings()
    telemetry = setup_telemetry("notifier", common.telemetry)
    try:
        with asyncio.Runner(loop_factory=_loop_factory(settings.uvloop)) as runner:
            runner.run(_run(settings, common, telemetry))
    finally:
        telemetry.shutdown()


async def _run(settings: NotifierSettings, common: CommonSettings, telemetry: Telemetry) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_notifier(settings, common, telemetry, stop)


def _loop_factory(use_uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        logger.info("uvloop is not installed; using the asyncio event loop")
        return None
    return uvloop.new_event_loop
