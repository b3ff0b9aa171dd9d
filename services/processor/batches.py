"""One batch of raw messages: contracts checked, bad ones dead-lettered, the rest processed.

``handle`` returns only when every message of the batch is dealt with durably: processed
(results stored, Completed or Failed published) or dead-lettered. While the broker is
unavailable it keeps trying, with capped exponential backoff, so that the caller never
acknowledges a message whose outcome was not written.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from schemas.events import ImageUploaded, utc_now
from services.common.envelope import ContractError, decode
from services.processor.adapters.events import BrokerUnavailable, DeadLetterSink, RawMessage
from services.processor.metrics import ProcessorMetrics
from services.processor.pipeline import BatchPipeline
from services.processor.taskrun import Inbound

logger = logging.getLogger(__name__)

T = TypeVar("T")

UNEXPECTED_TYPE = "unexpected_type"


class BatchHandler:
    def __init__(
        self,
        pipeline: Callable[[], BatchPipeline],
        dead_letters: Callable[[], DeadLetterSink],
        metrics: ProcessorMetrics,
        *,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._pipeline = pipeline
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s

    async def handle(self, messages: Sequence[RawMessage]) -> None:
        received_at = utc_now()
        dead_lettered: set[int] = set()
        accepted = await self._persistently(lambda: self._accept(messages, dead_lettered))
        inbound = [Inbound(upload, headers, received_at) for upload, headers in accepted]
        if inbound:
            await self._persistently(lambda: self._pipeline().process(inbound))

    async def _accept(
        self, messages: Sequence[RawMessage], dead_lettered: set[int]
    ) -> list[tuple[ImageUploaded, Sequence[tuple[str, bytes]]]]:
        """The valid uploads; the others are dead-lettered (once, even when retried)."""
        accepted = []
        for position, message in enumerate(messages):
            if position in dead_lettered:
                continue
            try:
                envelope = decode(message.value, list(message.headers))
            except ContractError as exc:
                await self._dead_letter(message, exc.reason, exc.message, exc.field)
                dead_lettered.add(position)
                continue
            if not isinstance(envelope.event, ImageUploaded):
                await self._dead_letter(
                    message,
                    UNEXPECTED_TYPE,
                    f"{envelope.type} does not belong on {message.topic}",
                    "ce_type",
                )
                dead_lettered.add(position)
                continue
            accepted.append((envelope.event, message.headers))
        return accepted

    async def _dead_letter(
        self, message: RawMessage, reason: str, error: str, field: str | None
    ) -> None:
        await self._dead_letters().send(message, reason=reason, error=error, field=field)
        self._metrics.dead_letters.labels(reason).inc()

    async def _persistently(self, step: Callable[[], Awaitable[T]]) -> T:
        """Repeat ``step`` while the broker is unavailable (cancellable at every wait)."""
        delay = self._first_backoff_s
        while True:
            try:
                return await step()
            except BrokerUnavailable as exc:
                logger.error("broker unavailable, retrying the batch in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._max_backoff_s)
