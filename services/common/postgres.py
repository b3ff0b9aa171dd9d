"""The PostgreSQL driver errors after which the same statement may succeed later.

Every service that reads or writes PostgreSQL turns these, and only these, into its own
"unavailable, retry" error; any other `asyncpg.PostgresError` (a syntax error, a missing
column, a violated constraint) is a bug and surfaces as one."""

from __future__ import annotations

import asyncpg

TRANSIENT_POSTGRES_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # e.g. the server is shutting down
    asyncpg.exceptions.InsufficientResourcesError,  # e.g. too many connections
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock
)
