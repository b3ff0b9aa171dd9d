"""A bound on the upload bodies one API process holds at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.upload.domain.errors import ErrorCode, Rejected


class BodyPlaces:
    """At most ``size`` upload bodies are received and held by this process at once; the
    next one waits up to ``wait_seconds`` for a place, then gets 503 `server_busy`. Memory
    for bodies is bounded by ``size`` x the byte limit, however many clients send."""

    def __init__(self, size: int, wait_seconds: float, retry_after_seconds: int) -> None:
        self.size = size
        self._places = asyncio.Semaphore(size)
        self._wait = wait_seconds
        self._retry_after = retry_after_seconds
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            async with asyncio.timeout(self._wait):
                await self._places.acquire()
        except TimeoutError:
            raise Rejected(
                ErrorCode.SERVER_BUSY,
                f"the server is receiving {self.size} uploads already; retry shortly",
                retry_after_seconds=self._retry_after,
            ) from None
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._places.release()
