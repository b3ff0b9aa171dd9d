"""Rate limits and quotas of an API key: what a request costs and what to answer. Pure.

A key has three limits, each 0 for none:

- ``rate_per_minute``: units per calendar minute (UTC, fixed windows shared by every API
  replica). Every authenticated request costs 1 unit; an accepted upload costs its
  megapixels rounded up (at least 1), charged once its size is known from the header.
- ``max_concurrent``: uploads of the key being received and stored at the same time.
- ``monthly_megapixels``: megapixels of accepted uploads per calendar month (UTC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyLimits:
    rate_per_minute: int
    max_concurrent: int
    monthly_megapixels: float


def megapixels(width: int, height: int) -> float:
    return width * height / 1_000_000


def upload_units(width: int, height: int) -> int:
    """What an upload costs against the per-minute rate: its megapixels rounded up, >= 1."""
    return max(1, math.ceil(megapixels(width, height) - 1e-9))


@dataclass(frozen=True, slots=True)
class RateState:
    """Where a key stands in the current minute, for the `X-RateLimit-*` headers."""

    limit: int  # 0: no limit
    used: int
    reset_seconds: float  # until the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reset_after(self) -> int:
        """Whole seconds until the window ends (at least 1)."""
        return max(1, math.ceil(self.reset_seconds))

    def headers(self) -> dict[str, str]:
        if self.limit == 0:
            return {}
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
