"""Query parameter types that accept exactly what the OpenAPI document declares.

pydantic reads a number as a Unix timestamp for a `date` or `datetime` (`?until=0` would be
1970-01-01); the document says RFC 3339, so anything that does not start like a date is
refused (422 `validation_error`) before pydantic converts it."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}")


def _day(value: Any) -> Any:
    if isinstance(value, str) and not _DAY.match(value):
        raise ValueError("a day as YYYY-MM-DD is required")
    return value


def _time(value: Any) -> Any:
    if isinstance(value, str) and not _TIME.match(value):
        raise ValueError("a time as RFC 3339 is required, e.g. 2026-01-02T03:04:05Z")
    return value


Day = Annotated[date, BeforeValidator(_day)]
Time = Annotated[datetime, BeforeValidator(_time)]
