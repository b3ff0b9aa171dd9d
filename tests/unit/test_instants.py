from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.cli.instants import InvalidInstant, parse_instant

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("2h", NOW - timedelta(hours=2)),
        ("-90m", NOW - timedelta(minutes=90)),
        ("3d ago", NOW - timedelta(days=3)),
        ("1W", NOW - timedelta(weeks=1)),
        ("45s", NOW - timedelta(seconds=45)),
        ("2026-01-20T10:00:00Z", datetime(2026, 1, 20, 10, tzinfo=UTC)),
        ("2026-01-20", datetime(2026, 1, 20, tzinfo=UTC)),
        (
            "2026-01-20T10:00:00+02:00",
            datetime(2026, 1, 20, 10, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_instants(text: str, expected: datetime) -> None:
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2h later", "2026-13-01", "5y"])
def test_what_is_no_time_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidInstant, match="ISO 8601"):
        parse_instant(text, NOW)
