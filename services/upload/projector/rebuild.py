"""`projection rebuild`: build the read model afresh from the beginning of every image topic
and swap it in, while the live projector and the API keep running.

1. Take the end offsets of every partition of the five image topics: the progress is
   measured against them. A partition whose first records are gone (retention) makes the
   rebuild refuse, unless told to accept the loss.
2. Create empty copies of the read model's tables in a schema of their own and apply every
   event to them with the live projector's own code (same pure functions, same SQL), in
   transactions of one fetched batch each.
3. Catch up with what was written meanwhile, then, in one transaction: lock the live tables
   against writers, read the topics to their ends once more, check that the fresh tables
   hold every event the live ones do, and replace the live rows with the fresh rows.
   Readers see the old model until the commit and the complete new one after it; the live
   projector waits during the swap and then carries on from its own offsets (events it
   applies again are recognised by their ids).
4. Drop the fresh schema.

Interrupted at any point before the commit, the live model is untouched; run it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg

from schemas import Event
from services.common.settings import CommonSettings
from services.upload.adapters.postgres import connect
from services.upload.projector.history import TopicHistory
from services.upload.projector.projection import apply_batch
from services.upload.projector.staging import Staging, current_schema

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = "60s"


class RebuildError(RuntimeError):
    pass


def lock_key(schema: str) -> str:
    """Name of the advisory lock that keeps two rebuilds of one schema apart."""
    return f"clearcut-rebuild/{schema}"


class RebuildProgress(Protocol):
    def started(self, total: int) -> None: ...

    def advanced(self, records: int) -> None: ...

    def phase(self, description: str) -> None: ...


class _Silent:
    def started(self, total: int) -> None:
        pass

    def advanced(self, records: int) -> None:
        pass

    def phase(self, description: str) -> None:
        pass


@dataclass
class RebuildReport:
    target: str = ""
    total_at_start: int = 0
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    build_seconds: float = 0.0
    swap_seconds: float = 0.0
    swapped: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    differences: dict[str, tuple[int, int]] | None = None

    @property
    def events_per_second(self) -> float:
        return self.records / self.build_seconds if self.build_seconds > 0 else 0.0


class _Applier:
    """Applies each fetched batch in one transaction on the fresh tables."""

    def __init__(self, conn: asyncpg.Connection, report: RebuildReport, progress: RebuildProgress):
        self._conn = conn
        self._report = report
        self._progress = progress

    async def __call__(self, events: list[Event], records: int) -> None:
        async with self._conn.transaction():
            applied = await apply_batch(self._conn, events)
        self._report.records += records
        self._report.applied += applied
        self._report.duplicates += len(events) - applied
        self._progress.advanced(records)


async def rebuild_read_model(
    common: CommonSettings,
    *,
    schema: str | None = None,
    dry_run: bool = False,
    accept_loss: bool = False,
    progress: RebuildProgress | None = None,
) -> RebuildReport:
    """Rebuild the read model in ``schema`` (default: the connection's current schema).

    ``dry_run`` builds and compares but swaps nothing; ``accept_loss`` rebuilds even when
    the topics no longer hold everything the live model was built from.
    """
    progress = progress or _Silent()
    report = RebuildReport()
    control = await connect(common.postgres)
    history = TopicHistory(common.kafka, common.topics.event_topics)
    writer: asyncpg.Connection | None = None
    staging: Staging | None = None
    locked = False
    try:
        staging = Staging(control, schema or await current_schema(control))
        report.target = staging.target
        await staging.check_target()
        locked = await control.fetchval(
            "SELECT pg_try_advisory_lock(hashtext($1))", lock_key(staging.target)
        )
        if not locked:
            raise RebuildError(f"another rebuild of schema {staging.target} is running")
        extent = await history.start()
        truncated = extent.truncated()
        if truncated and not accept_loss:
            listed = ", ".join(
                f"{tp.topic}[{tp.partition}] from {extent.beginnings[tp]}" for tp in truncated
            )
            raise RebuildError(
                f"the topics no longer start at offset 0 ({listed}): events older than the "
                "retention are gone and the rebuilt model would lack them. Use --accept-loss "
                "to rebuild from what is left."
            )
        report.total_at_start = extent.total
        await staging.create()
        writer = await connect(common.postgres, search_path=staging.fresh)
        apply = _Applier(writer, report, progress)
        started = time.monotonic()
        progress.started(extent.total)
        await history.read_until(extent.ends, apply)
        progress.phase("catching up")
        await history.read_until(await history.current_ends(), apply)
        report.build_seconds = time.monotonic() - started
        if dry_run:
            progress.phase("comparing")
            report.differences = await staging.differences()
        else:
            progress.phase("swapping")
            swap_started = time.monotonic()
            await _swap(control, staging, history, apply, report, accept_loss)
            report.swap_seconds = time.monotonic() - swap_started
        report.skipped = history.skipped
        logger.info(
            "rebuilt %s from %d records in %.1f s (%.0f events/s), swapped: %s",
            staging.target,
            report.records,
            report.build_seconds,
            report.events_per_second,
            report.swapped,
        )
        return report
    finally:
        await asyncio.shield(_clean_up(control, history, writer, staging, locked))


async def _swap(
    control: asyncpg.Connection,
    staging: Staging,
    history: TopicHistory,
    apply: _Applier,
    report: RebuildReport,
    accept_loss: bool,
) -> None:
    async with control.transaction():
        await control.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        try:
            await staging.lock_live()
        except asyncpg.LockNotAvailableError as exc:
            raise RebuildError(
                f"could not lock the live read model within {LOCK_TIMEOUT}; nothing changed"
            ) from exc
        # Writers are held off now: whatever the live model holds was written before these
        # end offsets.
        await history.read_until(await history.current_ends(), apply)
        only_live = await staging.events_only_live()
        if only_live and not accept_loss:
            raise RebuildError(
                f"{only_live} events in the live read model are not on the topics (past "
                "retention, or written by other means); nothing changed. Use --accept-loss "
                "to replace it all the same."
            )
        report.rows = await staging.replace_live()
    report.swapped = True


async def _clean_up(
    control: asyncpg.Connection,
    history: TopicHistory,
    writer: asyncpg.Connection | None,
    staging: Staging | None,
    locked: bool,
) -> None:
    """Stop reading, drop the fresh schema (only ever while holding the lock: it may be
    another run's otherwise) and release the lock."""
    try:
        await history.stop()
        if writer is not None:
            await writer.close()
        if staging is not None and locked:
            await staging.drop()
            await control.execute(
                "SELECT pg_advisory_unlock(hashtext($1))", lock_key(staging.target)
            )
    finally:
        await control.close()
