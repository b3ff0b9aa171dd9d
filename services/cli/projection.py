"""``clearcut projection rebuild``: rebuild the read model from the image topics."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.progress import RebuildBar
from services.common.settings import CommonSettings
from services.upload.adapters.errors import Unavailable
from services.upload.projector.history import HistoryError
from services.upload.projector.rebuild import RebuildError, RebuildReport, rebuild_read_model
from services.upload.projector.staging import StagingError

app = typer.Typer(help="The PostgreSQL read model kept by the projector.", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)


REBUILD_HELP = (
    "Build the read model afresh from the beginning of every image topic and swap it in.\n\n"
    "The live projector and the API keep running: the new tables are filled beside the live "
    "ones and replace them in one transaction at the end, so clients see either the old or "
    "the complete new model, never a half-built one. Progress is measured against the end "
    "offsets taken at the start; events written meanwhile are caught up before the swap.\n\n"
    "The topics must still hold every event (retention, CLEARCUT_TOPIC_RETENTION_MS): the "
    "rebuild refuses otherwise, unless --accept-loss."
)


@app.command(help=REBUILD_HELP)
def rebuild(
    schema: Annotated[
        str | None,
        typer.Option(help="Schema holding the read model; default: the connection's current one."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Build and compare with the live model; replace nothing."),
    ] = False,
    accept_loss: Annotated[
        bool,
        typer.Option(
            "--accept-loss",
            help="Rebuild even though the topics lost events to retention (or the live model "
            "holds events that are on no topic): those images and tasks disappear.",
        ),
    ] = False,
) -> None:
    common = CommonSettings()
    console.print(
        f"rebuilding the read model from {len(common.topics.event_topics)} topics "
        f"({common.topics.uploaded}, ...)" + (" (dry run: nothing is replaced)" if dry_run else "")
    )
    try:
        with RebuildBar(console) as bar:
            report = asyncio.run(
                rebuild_read_model(
                    common, schema=schema, dry_run=dry_run, accept_loss=accept_loss, progress=bar
                )
            )
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the live read model is unchanged")
        raise typer.Exit(130) from None
    except (RebuildError, StagingError, HistoryError, Unavailable) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    _report(report)


def _report(report: RebuildReport) -> None:
    table = Table(title=f"read model in schema {report.target}", title_justify="left")
    table.add_column("", justify="left")
    table.add_column("", justify="right")
    table.show_header = False
    table.add_row("records at start", f"{report.total_at_start:,}")
    table.add_row("records read", f"{report.records:,}")
    table.add_row("events applied", f"{report.applied:,}")
    table.add_row("duplicates", f"{report.duplicates:,}")
    if report.skipped:
        table.add_row("undecodable, left out", f"{report.skipped:,}")
    table.add_row("build time", f"{report.build_seconds:.1f} s")
    table.add_row("rate", f"{report.events_per_second:,.0f} events/s")
    if report.swapped:
        table.add_row("swap time", f"{report.swap_seconds:.2f} s")
        for name, rows in report.rows.items():
            table.add_row(f"rows in {name}", f"{rows:,}")
    console.print(table)
    if report.differences is not None:
        diff = Table(title="live model compared with the rebuilt one", title_justify="left")
        for column in ("table", "rows only live", "rows only rebuilt"):
            diff.add_column(column)
        for name, (only_live, only_fresh) in report.differences.items():
            diff.add_row(name, f"{only_live:,}", f"{only_fresh:,}")
        console.print(diff)
        same = all(d == (0, 0) for d in report.differences.values())
        console.print("identical" if same else "[yellow]they differ[/]: a rebuild would repair it")
    elif report.swapped:
        console.print("[green]swapped in[/]: the read model is rebuilt")
