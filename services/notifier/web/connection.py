"""One authenticated client: a bounded outgoing queue in front of its websocket.

Messages are queued without awaiting and written by one writer task, started when the
queue gets its first message and ended when it is empty, so an idle connection costs no
task. A client that stops reading fills its socket buffers, then its queue; the next
message finds the queue full and the client is disconnected with 1013 (try again later).
If it does not even read the close frame, its socket is aborted after the close timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from aiohttp import web

from services.notifier.metrics import NotifierMetrics

logger = logging.getLogger(__name__)

SLOW_CLIENT_CODE = 1013
SLOW_CLIENT_REASON = "too slow: outgoing queue full"


class Connection:
    __slots__ = (
        "_abort",
        "_close_task",
        "_close_timeout",
        "_metrics",
        "_owner",
        "_queue",
        "_queue_size",
        "_writer",
        "_ws",
        "closing",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        owner: str,
        *,
        queue_size: int,
        close_timeout: float,
        metrics: NotifierMetrics,
        abort: Callable[[], None],
    ) -> None:
        self._ws = ws
        self._owner = owner
        self._queue_size = queue_size
        self._close_timeout = close_timeout
        self._metrics = metrics
        self._abort = abort
        self._queue: deque[tuple[str, str, float | None]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def owner(self) -> str:
        return self._owner

    def offer(self, text: str, *, kind: str = "control", event_time: float | None = None) -> bool:
        if self.closing:
            return False  # being closed: nothing more is sent to it
        if len(self._queue) >= self._queue_size:
            self._drop_slow()
            return False
        self._queue.append((text, kind, event_time))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        return True

    async def _drain(self) -> None:
        sent = self._metrics.sent
        latency = self._metrics.event_to_send
        try:
            while self._queue:
                text, kind, event_time = self._queue.popleft()
                await self._ws.send_str(text)
                sent[kind].inc()
                if event_time is not None:
                    latency.observe(max(0.0, time.time() - event_time))
        except (ConnectionError, RuntimeError) as exc:
            # The socket went away; the reading side ends the connection.
            logger.debug("writing to a client failed: %s", exc)
            self._queue.clear()
        finally:
            self._writer = None

    def _drop_slow(self) -> None:
        self.closing = True
        self._metrics.dropped_clients.inc()
        self._metrics.dropped_messages.inc(len(self._queue))
        logger.info(
            "disconnecting a slow client of %s: %d messages queued", self._owner, len(self._queue)
        )
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
        self._close_task = asyncio.get_running_loop().create_task(
            self.close(SLOW_CLIENT_CODE, SLOW_CLIENT_REASON)
        )

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``; abort the socket if the client does not answer in time."""
        self.closing = True
        try:
            await asyncio.wait_for(
                self._ws.close(code=code, message=reason.encode("utf-8")), self._close_timeout
            )
        except (TimeoutError, ConnectionError, RuntimeError):
            self._abort()

    async def wait_closed(self) -> None:
        """Wait for a close started by a slow-client drop to finish."""
        if self._close_task is not None:
            await self._close_task

    def stop(self) -> None:
        """Forget what is still queued; the connection is over."""
        self.closing = True
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
