"""The projector's announcements of applied events, on a PostgreSQL connection of its own.

The projector sends ``pg_notify('clearcut_applied', '<event_id> <image_id>')`` inside the
transaction that applies an event; PostgreSQL delivers it to every listener when that
transaction commits, so an announced event is readable. Announcements sent while this
connection is down are lost: after every (re)connect the hub looks up all the events it
holds in the applied-events view. The connection is checked with a query every few
seconds, since a silently dead one would otherwise never say so. Announcements are handed
over one at a time, yielding to the event loop after each (as the Kafka feed does), so the
clients' writers flush one pushed event before the next is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_when_event_set,
    wait_exponential,
)

from services.common.read_api import APPLIED_CHANNEL, parse_applied
from services.common.settings import PostgresSettings
from services.notifier.adapters.postgres import UNAVAILABLE_ERRORS

logger = logging.getLogger(__name__)

OnApplied = Callable[[str, str], object]
_RETRY_FIRST_S, _RETRY_MAX_S = 0.5, 5.0


class ConnectionLost(Exception):
    """The listening connection closed or stopped answering."""


class AppliedListener:
    def __init__(
        self,
        postgres: PostgresSettings,
        on_applied: OnApplied,
        on_connected: Callable[[], Awaitable[object]],
        *,
        liveness_seconds: float = 5.0,
    ) -> None:
        self._postgres = postgres
        self._on_applied = on_applied
        self._on_connected = on_connected
        self._liveness = liveness_seconds
        self.listening = False
        self._announced: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting (backing off 0.5 s up to 5 s)."""
        hand_over = asyncio.create_task(self._hand_over(), name="applied-hand-over")
        try:
            await self._listen_until(stop)
        finally:
            hand_over.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hand_over

    async def _hand_over(self) -> None:
        while True:
            event_id, image_id = await self._announced.get()
            try:
                self._on_applied(event_id, image_id)
            except Exception:
                logger.exception("releasing applied event %s failed", event_id)
            await asyncio.sleep(0)

    async def _listen_until(self, stop: asyncio.Event) -> None:

        def log(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.warning("not listening for applied events (%s); retrying in %.1fs", exc, delay)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type((*UNAVAILABLE_ERRORS, ConnectionLost)),
            wait=wait_exponential(multiplier=_RETRY_FIRST_S, max=_RETRY_MAX_S),
            stop=stop_when_event_set(stop),  # type: ignore[arg-type]  # it only calls is_set()
            sleep=lambda seconds: _wait(stop, seconds),
            before_sleep=log,
            retry_error_callback=lambda _state: None,
        )
        await retrying(self._listen, stop)

    async def _listen(self, stop: asyncio.Event) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._postgres.dsn, timeout=10)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(APPLIED_CHANNEL, self._notified)
            self.listening = True
            logger.info("listening for applied events on %s", APPLIED_CHANNEL)
            await self._on_connected()  # what was announced while not listening
            while not stop.is_set():
                await _wait(stop, self._liveness)
                if lost.is_set() or conn.is_closed():
                    raise ConnectionLost("the listening connection closed")
                if not stop.is_set():
                    await conn.fetchval("SELECT 1", timeout=self._liveness)
        finally:
            self.listening = False
            with contextlib.suppress(*UNAVAILABLE_ERRORS):
                await asyncio.wait_for(conn.close(), 5)
            if not conn.is_closed():
                conn.terminate()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        parsed = parse_applied(payload)
        if parsed is None:
            logger.warning("ignoring an announcement that is not '<event_id> <image_id>'")
            return
        self._announced.put_nowait(parsed)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
