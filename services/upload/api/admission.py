"""What an upload passes besides the key's minute: a concurrent-upload slot of its key, and,
once its size is known, the key's monthly quota and the megapixel weight of its rate. (The
place among the bodies this process buffers is `BodyPlaces`.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from fastapi import Request

from services.upload.adapters.key_gate import Caller, KeyGate
from services.upload.api.dependencies import remember_rate
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.image_check import ImageFacts
from services.upload.domain.limits import megapixels, upload_units

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def upload_slot(gate: KeyGate, caller: Caller) -> AsyncIterator[None]:
    """One of the key's concurrent-upload slots for the block; 429 when all are taken."""
    if caller.limits.max_concurrent == 0:
        yield
        return
    slot: uuid.UUID | None = await gate.take_slot(caller)
    if slot is None:
        raise Rejected(
            ErrorCode.TOO_MANY_CONCURRENT_UPLOADS,
            f"this key already has {caller.limits.max_concurrent} uploads in flight; retry when "
            "one has been answered",
            retry_after_seconds=1,
            max_concurrent=caller.limits.max_concurrent,
        )
    try:
        yield
    finally:
        await asyncio.shield(gate.give_slot(slot))


class QuotaAdmission:
    """Charges an upload to its key once its size is known: the megapixels to the month
    (402 `quota_exceeded` when they do not fit) and the weight beyond the request's first
    unit to the minute."""

    def __init__(self, gate: KeyGate, caller: Caller, request: Request) -> None:
        self._gate = gate
        self._caller = caller
        self._request = request
        self._charged = 0.0

    async def admit(self, facts: ImageFacts) -> None:
        caller = self._caller
        size = megapixels(facts.width, facts.height)
        quota = caller.limits.monthly_megapixels
        if quota and not await self._gate.charge_month(caller, size):
            used = await self._gate.month_used(caller)
            raise Rejected(
                ErrorCode.QUOTA_EXCEEDED,
                f"this upload of {size:.2f} megapixels would take the key over its monthly "
                f"quota of {quota:g} megapixels ({used:.2f} used this month)",
                quota_megapixels=quota,
                used_megapixels=round(used, 3),
                upload_megapixels=round(size, 3),
            )
        self._charged = size if quota else 0.0
        rate = await self._gate.charge(caller, upload_units(facts.width, facts.height) - 1)
        remember_rate(self._request, rate)

    async def refund(self) -> None:
        if self._charged:
            try:
                await self._gate.refund_month(self._caller, self._charged)
            except Exception:  # a refund that fails leaves the charge; logged
                logger.warning("could not refund %.2f megapixels", self._charged, exc_info=True)
            self._charged = 0.0
