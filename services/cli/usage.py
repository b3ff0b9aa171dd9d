"""``clearcut usage``: uploads and processing per owner and day, for operators (every owner,
or one), from the read model. The same numbers an owner gets from `GET /v1/usage`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.common.settings import CommonSettings
from services.upload.adapters.errors import Unavailable
from services.upload.domain.errors import Rejected
from services.upload.domain.usage import DayUsage, UsageRange, totals, usage_range

console = Console(soft_wrap=True)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a day: use YYYY-MM-DD", param_hint=option
        ) from None


async def _fetch(common: CommonSettings, owner: str | None, days: UsageRange) -> list[DayUsage]:
    from services.upload.adapters.postgres import connect
    from services.upload.adapters.usage import UsageQueries

    conn = await connect(common.postgres)
    try:
        return await UsageQueries(conn).by_day(owner, days)
    finally:
        await conn.close()


def usage(
    since: Annotated[
        str | None, typer.Option(help="First day (UTC), YYYY-MM-DD; default 30 days ago.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Day after the last one (UTC), YYYY-MM-DD; default tomorrow.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner; default every owner.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Images uploaded, tasks processed and failed, megapixels processed and result bytes
    written, per owner and UTC day (days without activity left out), with totals per owner.
    Uploads count on their upload day (deleted images included), tasks on the day they
    finished."""
    try:
        days = usage_range(_day(since, "--since"), _day(until, "--until"), datetime.now(UTC).date())
    except Rejected as exc:
        raise typer.BadParameter(exc.message) from None
    try:
        found = asyncio.run(_fetch(CommonSettings(), owner, days))
    except Unavailable as exc:
        console.print(f"[red]PostgreSQL is unavailable:[/red] {exc}")
        raise typer.Exit(1) from None
    owners = sorted({d.owner for d in found})
    if as_json:
        document = {
            "since": days.since.isoformat(),
            "until": days.until.isoformat(),
            "days": [
                {
                    "day": d.day.isoformat(),
                    "owner": d.owner,
                    "uploaded": d.uploaded,
                    "processed": d.processed,
                    "failed": d.failed,
                    "megapixels": d.megapixels,
                    "result_bytes": d.result_bytes,
                }
                for d in found
            ],
            "totals": {
                o: dataclasses.asdict(totals([d for d in found if d.owner == o])) for o in owners
            },
        }
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(title=f"usage {days.since} .. {days.until} (until excluded, UTC)")
    for column in ("day", "owner", "uploaded", "processed", "failed", "megapixels", "result bytes"):
        table.add_column(column, justify="left" if column in ("day", "owner") else "right")
    for d in found:
        table.add_row(
            d.day.isoformat(),
            d.owner,
            str(d.uploaded),
            str(d.processed),
            str(d.failed),
            f"{d.megapixels:.2f}",
            f"{d.result_bytes:,}",
        )
    for o in owners:
        t = totals([d for d in found if d.owner == o])
        table.add_row(
            "total",
            o,
            str(t.uploaded),
            str(t.processed),
            str(t.failed),
            f"{t.megapixels:.2f}",
            f"{t.result_bytes:,}",
            style="bold",
        )
    if not found:
        console.print(f"no uploads or finished tasks from {days.since} to {days.until}")
        return
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
