"""Usage per owner and UTC day: what was uploaded and processed. Pure.

Counts come from the read model's event times: an image counts on the day it was uploaded
(deleted images too: they were uploaded), a task on the day it finished. `processed` and
`failed` count tasks whose latest outcome is completed or failed (a retried attempt that
completed counts once, as processed); `megapixels` is width x height of the completed
tasks' images; `result_bytes` the size of the results those tasks wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from services.upload.domain.errors import ErrorCode, Rejected

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    owner: str
    uploaded: int = 0
    processed: int = 0
    failed: int = 0
    megapixels: float = 0.0
    result_bytes: int = 0


@dataclass(frozen=True, slots=True)
class UsageRange:
    """Days ``since`` (included) to ``until`` (excluded), UTC."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until, time(), UTC)


def usage_range(since: date | None, until: date | None, today: date) -> UsageRange:
    """The days asked for: by default the last 30 days up to today included; at most 366."""
    end = until or today + timedelta(days=1)
    start = since or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise Rejected(ErrorCode.VALIDATION_ERROR, "since must be before until")
    if (end - start).days > MAX_DAYS:
        raise Rejected(
            ErrorCode.VALIDATION_ERROR,
            f"at most {MAX_DAYS} days at a time; ask for the rest separately",
        )
    return UsageRange(start, end)


@dataclass(frozen=True, slots=True)
class UsageTotals:
    uploaded: int = 0
    processed: int = 0
    failed: int = 0
    megapixels: float = 0.0
    result_bytes: int = 0


def totals(days: list[DayUsage]) -> UsageTotals:
    """The sum of ``days``."""
    return UsageTotals(
        uploaded=sum(d.uploaded for d in days),
        processed=sum(d.processed for d in days),
        failed=sum(d.failed for d in days),
        megapixels=round(sum(d.megapixels for d in days), 6),
        result_bytes=sum(d.result_bytes for d in days),
    )
