"""``clearcut replay``, ``clearcut projection rebuild`` and ``clearcut offsets``: reprocess
uploads, rebuild the read model from the topics, and steer consumer groups."""

from __future__ import annotations

import asyncio
import getpass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from schemas import utc_now
from services.cli.instants import HELP as TIME_HELP
from services.cli.instants import InvalidInstant, parse_instant
from services.cli.offsets import app as offsets_app
from services.cli.progress import ReplayBar
from services.cli.projection import app as projection_app
from services.common.settings import CommonSettings
from services.upload.replay.runner import ReplayError, ReplayRun, new_replay_id
from services.upload.replay.scan import ScanError
from services.upload.replay.selection import (
    SKIP_EXPLANATIONS,
    Criteria,
    CriteriaError,
    ReplayPlan,
    Request,
    summary_counts,
)

console = Console(soft_wrap=True, highlight=False)
SHOWN = 50  # requests listed by a dry run

REPLAY_HELP = (
    "Reprocess uploads: publish a new ImageUploaded request for each selected image.\n\n"
    "Select by time range, owner, image ids and/or --missing; criteria combine. Each request "
    "is a new task for the image, refers to the original upload, and names the model to run, "
    "who asked and why; the processor runs it and the image's newest result becomes current, "
    "the earlier tasks stay in its history.\n\n"
    "Interrupted? Run the same command with the replay id it printed (--replay-id): requests "
    "already sent are skipped, so nothing is requested twice."
)


def _instant(text: str | None, option: str, now: datetime) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text, now)
    except InvalidInstant as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _image_ids(ids: list[str] | None, file: Path | None) -> frozenset[str] | None:
    found = set(ids or [])
    if file is not None:
        text = typer.get_text_stream("stdin").read() if str(file) == "-" else file.read_text()
        found.update(line.strip() for line in text.splitlines() if line.strip())
    return frozenset(found) if found else None


def replay(
    since: Annotated[
        str | None,
        typer.Option(help=f"Uploads written to the topic at or after this time. {TIME_HELP}"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Uploads written before this time (same forms).")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's uploads.")] = None,
    image: Annotated[
        list[str] | None,
        typer.Option("--image", "-i", help="An image id; repeat for several."),
    ] = None,
    images_file: Annotated[
        Path | None,
        typer.Option(help="A file of image ids, one per line (`-` reads standard input)."),
    ] = None,
    missing: Annotated[
        bool,
        typer.Option(
            "--missing",
            help="Only images without a completed task with --model (from the read model).",
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help="Registry name of the model to run; default: what each upload asked for."
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why; recorded in every request (up to 1000 characters).")
    ] = None,
    requested_by: Annotated[
        str | None, typer.Option(help="Who asks; default: your user name.")
    ] = None,
    replay_id: Annotated[
        str | None,
        typer.Option(
            help="Continue or repeat this replay: requests it sent already are skipped. "
            "Default: a new id, printed at the start."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be sent; send nothing.")
    ] = False,
) -> None:
    now = utc_now()
    criteria = Criteria(
        since=_instant(since, "--since", now),
        until=_instant(until, "--until", now),
        owner=owner,
        image_ids=_image_ids(image, images_file),
        missing=missing,
    )
    try:
        request = Request(
            replay_id=replay_id or new_replay_id(now),
            requested_by=requested_by or getpass.getuser(),
            reason=reason,
            model=model,
        )
        request.check()
        criteria.check(model)
    except CriteriaError as exc:
        raise typer.BadParameter(str(exc)) from None
    common = CommonSettings()
    console.print(
        f"replay [bold]{request.replay_id}[/] on {common.topics.uploaded}"
        + (" (dry run: nothing is sent)" if dry_run else ""),
    )
    run = ReplayRun(common, criteria, request, dry_run=dry_run)
    try:
        with ReplayBar(console) as bar:
            run.progress = bar
            asyncio.run(run.execute())
    except KeyboardInterrupt:
        _summary(run, interrupted=True)
        raise typer.Exit(130) from None
    except (ReplayError, ScanError, CriteriaError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        _summary(run, interrupted=True)
        raise typer.Exit(1) from None
    assert run.plan is not None
    if dry_run:
        _listing(run.plan, model)
    _summary(run, interrupted=False)


def _listing(plan: ReplayPlan, model: str | None) -> None:
    table = Table(title="would send", title_justify="left")
    for column in ("image", "owner", "model", "task"):
        table.add_column(column)
    for event in plan.to_send[:SHOWN]:
        table.add_row(
            event.image_id, event.owner, event.options.model or "(default)", event.task_id
        )
    if plan.to_send:
        console.print(table)
    if len(plan.to_send) > SHOWN:
        console.print(f"... and {len(plan.to_send) - SHOWN} more")
    for item in plan.skipped[:SHOWN]:
        console.print(f"  skip {item.image_id}: {SKIP_EXPLANATIONS[item.reason]}")


def _summary(run: ReplayRun, *, interrupted: bool) -> None:
    replay_id = run.request.replay_id
    if run.plan is None:
        console.print(f"nothing was sent; run again with --replay-id {replay_id}")
        return
    table = Table(title=f"replay {replay_id}", title_justify="left", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    if run.scan is not None:
        table.add_row("records scanned", f"{run.scan.records:,}")
        if run.scan.undecodable:
            table.add_row("records undecodable", f"{run.scan.undecodable:,}")
    for label, count in summary_counts(run.plan, run.sent).items():
        table.add_row(label, f"{count:,}")
    if run.dry_run:
        table.add_row("would send", f"{len(run.plan.to_send):,}")
    console.print(table)
    left = len(run.plan.to_send) - run.sent
    if interrupted and not run.dry_run and left > 0:
        console.print(
            f"[yellow]{left} requests not sent[/]: run the same command with "
            f"--replay-id {replay_id} to send them"
        )


def register(app: typer.Typer) -> None:
    """Add ``replay``, ``projection`` and ``offsets`` to the ``clearcut`` command."""
    app.command("replay", help=REPLAY_HELP)(replay)
    app.add_typer(projection_app, name="projection")
    app.add_typer(offsets_app, name="offsets")


if __name__ == "__main__":  # a standalone runner: python -m services.cli.replay ...
    standalone = typer.Typer(no_args_is_help=True)
    register(standalone)
    standalone()
