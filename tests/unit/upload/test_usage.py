"""The days a usage request covers, and totals: pure."""

from __future__ import annotations

from datetime import date

import pytest

from services.upload.domain.errors import Rejected
from services.upload.domain.usage import DayUsage, totals, usage_range

TODAY = date(2026, 3, 10)


def test_the_default_is_the_last_30_days_up_to_today() -> None:
    days = usage_range(None, None, TODAY)
    assert (days.since, days.until) == (date(2026, 2, 9), date(2026, 3, 11))
    assert days.start.isoformat() == "2026-02-09T00:00:00+00:00"


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(Rejected, match="before until"):
        usage_range(TODAY, TODAY, TODAY)
    with pytest.raises(Rejected, match="366 days"):
        usage_range(date(2024, 1, 1), date(2025, 1, 3), TODAY)


def test_totals_add_up_the_days() -> None:
    days = [
        DayUsage(TODAY, "a", uploaded=2, processed=1, megapixels=0.1, result_bytes=5),
        DayUsage(TODAY, "a", uploaded=1, failed=1, megapixels=0.2, result_bytes=7),
    ]
    total = totals(days)
    assert (total.uploaded, total.processed, total.failed, total.result_bytes) == (3, 1, 1, 12)
    assert total.megapixels == 0.3
