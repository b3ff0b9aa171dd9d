"""Applies the numbered SQL migrations beside this module, once each, in one transaction.

Applied migrations are recorded in ``schema_migrations`` with a checksum of their text; a
run applies only what is missing, so running it twice is safe. Versions are unique and
applied in ascending order; a gap is allowed (numbers are reserved for work that lands
separately), and a lower number that arrives later is applied when it arrives, so
migrations must not depend on a higher-numbered one. An advisory lock serialises
concurrent runs (the stack's init and a developer, say), and a changed migration that was
already applied is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from services.common.auth import AuthSettings, store_key
from services.common.settings import PostgresSettings

logger = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")
# An arbitrary constant naming this lock among the database's advisory locks.
ADVISORY_LOCK = 0x636C6561  # "clea"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def parse_migrations(files: dict[str, str]) -> list[Migration]:
    """Migrations from file name -> text, in version order; versions are unique and start at
    1. A number may be missing: numbers are handed out before the migrations are written,
    so one reserved for a migration still to come leaves a gap that it fills later (the
    runner applies whatever is missing, in version order)."""
    found: list[Migration] = []
    for filename, sql in files.items():
        match = MIGRATION_NAME.match(filename)
        if match is None:
            if filename.endswith(".sql"):
                raise MigrationError(f"{filename}: migration files are named NNN_name.sql")
            continue
        found.append(Migration(int(match["version"]), match["name"], sql))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or (versions and versions[0] != 1):
        raise MigrationError(
            f"migration versions must start at 1 without duplicates, found {versions}"
        )
    return found


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in this package."""
    folder = resources.files(__package__ or "services.upload.migrations")
    files = {entry.name: entry.read_text("utf-8") for entry in folder.iterdir() if entry.is_file()}
    return parse_migrations(files)


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is missing; return the names of the applied migrations (none: up to date)."""
    migrations = bundled_migrations() if migrations is None else migrations
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK)
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {row["version"]: row for row in rows}
        for migration in migrations:
            label = f"{migration.version:03d}_{migration.name}"
            done = applied.get(migration.version)
            if done is not None:
                if done["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {label} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            logger.info("applying migration %s", label)
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
            applied_now.append(label)
    return applied_now


async def migrate_and_seed(pg: PostgresSettings, auth: AuthSettings) -> tuple[list[str], bool]:
    """What `clearcut db migrate` (and the stack's init) does: apply the missing migrations,
    then store the development key when one is configured. Returns the applied migrations
    and whether the development key was new."""
    from services.upload.adapters.postgres import connect

    conn = await connect(pg)
    try:
        applied = await migrate(conn)
        dev_key = auth.dev_key.get_secret_value()
        seeded = bool(dev_key) and await store_key(conn, dev_key, auth.dev_owner)
        return applied, seeded
    finally:
        await conn.close()
