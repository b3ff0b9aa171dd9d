"""When a failed delivery is tried again, and when it is given up. Pure.

The n-th retry waits ``initial * 2**(n-1)`` seconds, at most ``max_interval``, each delay
spread by up to ``jitter`` of itself (so that many deliveries failing together do not retry
together); no attempt is made later than ``deadline`` after the delivery was created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial_seconds: float = 10.0
    max_interval_seconds: float = 3600.0
    deadline_seconds: float = 86400.0
    jitter: float = 0.1

    def delay(self, failed_attempts: int, spread: float = 0.5) -> float:
        """Seconds to wait after ``failed_attempts`` (1 or more) failures; ``spread`` in
        [0, 1) picks where in the jitter band it lands (0.5: the middle, no jitter)."""
        if failed_attempts < 1:
            raise ValueError("failed_attempts starts at 1")
        exponent = min(failed_attempts - 1, 64)
        base = min(self.initial_seconds * 2.0**exponent, self.max_interval_seconds)
        return max(0.0, base * (1.0 + self.jitter * (2.0 * spread - 1.0)))

    def next_attempt(
        self, created_at: datetime, now: datetime, failed_attempts: int, spread: float = 0.5
    ) -> datetime | None:
        """When to try again, or None when that would be past the deadline: give up."""
        at = now + timedelta(seconds=self.delay(failed_attempts, spread))
        if at > created_at + timedelta(seconds=self.deadline_seconds):
            return None
        return at

    def schedule(self, attempts: int) -> list[float]:
        """The delays of the first ``attempts`` retries without jitter (for docs and tests)."""
        return [self.delay(n) for n in range(1, attempts + 1)]
