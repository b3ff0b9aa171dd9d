"""Points in time as operators type them: ISO 8601, or an age such as `2h` (ago). Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGE = re.compile(r"^-?\s*(?P<count>\d+)\s*(?P<unit>s|m|h|d|w)(\s+ago)?$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

HELP = (
    "ISO 8601 (`2026-01-20T10:00:00Z`, `2026-01-20`; UTC when no offset is given), "
    "`now`, or an age such as `90m`, `2h`, `3d`, `1w` (that long ago)."
)


class InvalidInstant(ValueError):
    pass


def parse_instant(text: str, now: datetime) -> datetime:
    """The moment ``text`` names, timezone-aware; ``now`` anchors ages."""
    value = text.strip()
    if value.lower() == "now":
        return now
    age = _AGE.match(value)
    if age is not None:
        unit = _UNITS[age["unit"].lower()]
        return now - timedelta(**{unit: int(age["count"])})
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InvalidInstant(f"{text!r} is not a time: use {HELP}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
