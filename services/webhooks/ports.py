"""What the intake and the dispatcher need of the outside world (real adapters in
`adapters/`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.webhooks.domain.attempts import AttemptResult, Decision
from services.webhooks.domain.payload import Outcome


@dataclass(frozen=True, slots=True)
class Claimed:
    """A due delivery, held by this process for a lease while it is sent."""

    id: str
    owner: str
    target: str  # endpoint | callback
    url: str
    attempts: int  # attempts made before this one
    created_at: datetime
    payload: dict[str, Any]
    secret: str | None  # None: the endpoint was removed, or the owner has no callback secret
    endpoint_removed: bool
    projected: bool  # the read model already shows the outcome, so its links answer


class DeliveryStore(Protocol):
    async def record_outcome(self, outcome: Outcome) -> int: ...

    async def record_callback(self, task_id: str, image_id: str, owner: str, url: str) -> int: ...

    async def claim_due(self, limit: int, lease_seconds: float) -> list[Claimed]: ...

    async def record_attempt(
        self, delivery: Claimed, result: AttemptResult, decision: Decision
    ) -> None: ...

    async def postpone(self, delivery: Claimed, seconds: float) -> None: ...

    async def cancel(self, delivery: Claimed, reason: str) -> None: ...


class Sender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult: ...
