"""What one attempt's result means for its delivery. Pure.

- a 2xx answer: delivered;
- a refused target (see `targets`): refused, never tried again;
- anything else (another status, redirects included since they are not followed, a
  timeout, a connection or DNS error): tried again after the backoff, until the deadline,
  then failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.webhooks.domain.backoff import RetryPolicy

MAX_ERROR = 500


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the deadline
    REFUSED = "refused"  # the target is not allowed
    CANCELLED = "cancelled"  # the endpoint was removed, or no secret to sign with


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What happened when sending once."""

    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    refused: bool = False

    @property
    def outcome(self) -> AttemptOutcome:
        if self.refused:
            return AttemptOutcome.REFUSED
        if self.status_code is not None and 200 <= self.status_code < 300:
            return AttemptOutcome.DELIVERED
        return AttemptOutcome.FAILED

    @property
    def description(self) -> str | None:
        if self.outcome is AttemptOutcome.DELIVERED:
            return None
        if self.error:
            return self.error[:MAX_ERROR]
        if self.status_code is not None and 300 <= self.status_code < 400:
            return f"HTTP {self.status_code}: redirects are not followed"
        return f"HTTP {self.status_code}"


@dataclass(frozen=True, slots=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: datetime | None


def decide(
    result: AttemptResult,
    *,
    created_at: datetime,
    failed_attempts: int,
    policy: RetryPolicy,
    spread: float,
) -> Decision:
    """The delivery's next state after ``result``; ``failed_attempts`` counts this one."""
    outcome = result.outcome
    if outcome is AttemptOutcome.DELIVERED:
        return Decision(DeliveryStatus.DELIVERED, None)
    if outcome is AttemptOutcome.REFUSED:
        return Decision(DeliveryStatus.REFUSED, None)
    at = policy.next_attempt(created_at, result.started_at, failed_attempts, spread)
    if at is None:
        return Decision(DeliveryStatus.FAILED, None)
    return Decision(DeliveryStatus.PENDING, at)
