"""Waiting for one upload's outcome, as the synchronous remove.bg endpoint does.

The outcome feed hands every ProcessingCompleted and final ProcessingFailed to
`Outcomes.deliver`; a request waits on the future of its task. Outcomes are also kept for
a while (`keep_seconds`), so that one which arrives before its waiter registered (a
processor reusing earlier results can finish within milliseconds) is not missed. A failure
marked retriable is not an outcome: the processor tries again.

`Outcomes.slot()` bounds how many requests wait at once; beyond it a request is refused at
once (`Busy`) rather than queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

from cachetools import TTLCache

from schemas import ProcessingCompleted, ProcessingFailed

Outcome = ProcessingCompleted | ProcessingFailed


class Busy(Exception):
    """As many synchronous requests as allowed are already waiting."""


class Outcomes:
    def __init__(
        self,
        max_waiting: int,
        keep_seconds: float = 300.0,
        keep_max: int = 10_000,
        *,
        timer: Callable[[], float] = time.monotonic,
    ):
        self.max_waiting = max_waiting
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        # The most recent outcomes by task id, each for ``keep_seconds``, at most ``keep_max``.
        self._recent: TTLCache[str, Outcome] = TTLCache(keep_max, keep_seconds, timer=timer)
        self.slots_in_use = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.slots_in_use >= self.max_waiting:
            raise Busy
        self.slots_in_use += 1
        try:
            yield
        finally:
            self.slots_in_use -= 1

    def deliver(self, event: Outcome) -> None:
        if isinstance(event, ProcessingFailed) and event.retriable:
            return
        self._recent[event.task_id] = event
        waiter = self._waiting.pop(event.task_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(event)

    async def wait(self, task_id: str, within: float) -> Outcome:
        """The task's outcome; `TimeoutError` after ``within`` seconds."""
        kept = self._recent.get(task_id)
        if kept is not None:
            return kept
        waiter = self._waiting.get(task_id)
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[task_id] = waiter
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), within)
        finally:
            if self._waiting.get(task_id) is waiter and not waiter.done():
                del self._waiting[task_id]
