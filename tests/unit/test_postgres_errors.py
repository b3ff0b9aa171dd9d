"""Which PostgreSQL errors mean "unavailable, retry" (the same list in every service)."""

from __future__ import annotations

import asyncpg
import pytest

from services.common.postgres import TRANSIENT_POSTGRES_ERRORS
from services.notifier.adapters.postgres import UNAVAILABLE_ERRORS


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        asyncpg.exceptions.CannotConnectNowError(),
        asyncpg.exceptions.AdminShutdownError(),
        asyncpg.exceptions.TooManyConnectionsError(),
        asyncpg.exceptions.SerializationError(),
        asyncpg.exceptions.ConnectionDoesNotExistError(),
    ],
)
def test_outages_are_transient(error: BaseException) -> None:
    assert isinstance(error, TRANSIENT_POSTGRES_ERRORS)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UndefinedColumnError(),
        asyncpg.exceptions.PostgresSyntaxError(),
        asyncpg.exceptions.UniqueViolationError(),
        asyncpg.exceptions.DataError(),
    ],
)
def test_a_sql_bug_is_not_an_outage(error: BaseException) -> None:
    assert not isinstance(error, TRANSIENT_POSTGRES_ERRORS)
    assert not isinstance(error, UNAVAILABLE_ERRORS)
