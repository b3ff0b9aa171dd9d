"""Graceful shutdown: finish the batch in flight within a bound, or abandon it unacknowledged.

The agent runs each batch (processing *and* acknowledging) through ``BatchGate.run``. On
shutdown ``drain`` stops new batches from starting and waits up to the grace period for the
one in flight; a batch that does not finish in time is cancelled before any of its events
is acknowledged, so its offsets are never committed and another worker redoes it (results
are keyed by task, so redoing overwrites rather than duplicates).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class BatchGate:
    def __init__(self) -> None:
        self.closing = False
        self._current: asyncio.Task[None] | None = None

    async def run(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run one batch to completion; ``False`` when it was refused or abandoned."""
        if self.closing:
            work.close()
            return False
        task = asyncio.ensure_future(work)
        self._current = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._current = None
        if task.cancelled():
            return False
        task.result()  # re-raise a bug in the batch itself
        return True

    async def drain(self, grace_s: float) -> bool | None:
        """Refuse new batches; wait for the one in flight. ``True`` if it finished, ``False``
        if it was abandoned, ``None`` if there was none."""
        self.closing = True
        task = self._current
        if task is None or task.done():
            return None
        logger.info("waiting up to %.0f s for the batch in flight", grace_s)
        done, _ = await asyncio.wait({task}, timeout=grace_s)
        if done:
            return True
        logger.warning("abandoning the batch in flight after %.0f s; it will be redone", grace_s)
        task.cancel()
        await asyncio.wait({task})
        return False

    async def wait_forever(self) -> None:
        """Where the agent parks once closing, until faust cancels it."""
        await asyncio.Event().wait()
