"""``clearcut offsets show | reset``: a consumer group's lag, and moving its offsets."""

from __future__ import annotations

import asyncio
import difflib
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from schemas import utc_now
from services.cli.instants import HELP as TIME_HELP
from services.cli.instants import InvalidInstant, parse_instant
from services.common.kafka.offsets import (
    GroupOffsets,
    OffsetsError,
    ResetKind,
    ResetTarget,
    describe_group,
    list_groups,
    reset_group,
)
from services.common.settings import CommonSettings

app = typer.Typer(
    help="Consumer groups: lag per partition, and resetting committed offsets.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True, highlight=False)

Group = Annotated[
    str,
    typer.Argument(
        help="Consumer group, e.g. clearcut-projector (CLEARCUT_UPLOAD_PROJECTOR_GROUP)."
    ),
]
Topics = Annotated[
    list[str] | None,
    typer.Option(
        "--topic",
        "-t",
        help="Full topic name; repeat for several. Default: the topics the group has "
        "committed offsets for.",
    ),
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _group_table(offsets: GroupOffsets) -> None:
    members = ", ".join(f"{m.client_id}@{m.host}" for m in offsets.members) or "none"
    console.print(f"group [bold]{offsets.group}[/]  state {offsets.state}  members: {members}")
    if not offsets.partitions:
        console.print("  no committed offsets (name topics with --topic)")
        return
    table = Table()
    for column in ("topic", "partition", "committed", "end", "lag"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for p in offsets.partitions:
        table.add_row(
            p.partition.topic,
            str(p.partition.partition),
            "-" if p.committed is None else f"{p.committed:,}",
            f"{p.end:,}",
            "-" if p.lag is None else f"{p.lag:,}",
        )
    console.print(table)
    console.print(f"total lag {offsets.total_lag:,}")


@app.command()
def show(group: Group, topic: Topics = None) -> None:
    """The group's state, members, and committed offset, end offset and lag per partition."""
    common = CommonSettings()
    try:
        offsets = asyncio.run(describe_group(common.kafka, group, topic))
        if not offsets.known:
            groups = asyncio.run(list_groups(common.kafka))
    except (OffsetsError, KafkaError) as exc:
        raise _fail(str(exc)) from None
    if not offsets.known:
        close = difflib.get_close_matches(group, groups, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise _fail(
            f"the broker knows no consumer group {group!r} (no members, no committed "
            f"offsets; it has {len(groups)} groups){hint}"
        )
    _group_table(offsets)


def _target(text: str) -> ResetTarget:
    value = text.strip().lower()
    if value in (ResetKind.EARLIEST, ResetKind.LATEST):
        return ResetTarget(ResetKind(value))
    try:
        return ResetTarget(ResetKind.TIMESTAMP, parse_instant(text, utc_now()))
    except InvalidInstant as exc:
        raise typer.BadParameter(f"{exc}; or `earliest` / `latest`", param_hint="--to") from None


RESET_HELP = (
    "Move a group's committed offsets, so that its consumers re-read (or skip) records.\n\n"
    "For example, to make the processors run everything written since 09:00 again: stop "
    "them, `clearcut offsets reset GROUP --to 2026-01-20T09:00:00Z`, start them. A group "
    "with active members is refused unless --force."
)


@app.command(help=RESET_HELP)
def reset(
    group: Group,
    to: Annotated[
        str,
        typer.Option(
            help=f"`earliest`, `latest`, or a time: the first record written at or after it. "
            f"{TIME_HELP}"
        ),
    ],
    topic: Topics = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Reset a group that has active members: they are removed from the group and "
            "rejoin at the new offsets (records in flight may be processed again).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the new offsets; commit nothing.")
    ] = False,
) -> None:
    target = _target(to)
    common = CommonSettings()
    try:
        outcome = asyncio.run(
            reset_group(common.kafka, group, target, topic, force=force, dry_run=dry_run)
        )
    except (OffsetsError, KafkaError) as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"group {group} to {target.describe()}", title_justify="left")
    for column in ("topic", "partition", "committed", "new offset", "records to read"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for p in outcome.before.partitions:
        new = outcome.offsets[p.partition]
        table.add_row(
            p.partition.topic,
            str(p.partition.partition),
            "-" if p.committed is None else f"{p.committed:,}",
            f"{new:,}",
            f"{p.end - new:,}",
        )
    console.print(table)
    if dry_run and outcome.before.members:
        console.print(
            f"note: the group has {len(outcome.before.members)} active member(s); the real "
            "reset needs them stopped first, or --force"
        )
    for member in outcome.removed_members:
        console.print(f"removed member {member.client_id}@{member.host} ({member.member_id})")
    console.print("dry run: nothing committed" if dry_run else "[green]committed[/]")
