"""``clearcut chaos``: break the running pipeline on purpose and count what survives."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.chaos.control import ControlError
from services.chaos.runner import run_scenario
from services.chaos.scenarios import Context, Scenario, catalogue
from services.chaos.tally import Tally
from services.common.auth import AuthSettings
from services.common.settings import CommonSettings

console = Console(soft_wrap=True)
# The table is wide; a pipe or a log file gets all of it rather than 80 columns.
wide = Console(width=max(Console().width, 160))


def _chosen(names: list[str] | None, settings: CommonSettings) -> list[Scenario]:
    known = {s.name: s for s in catalogue()}
    unknown = sorted(set(names or []) - set(known))
    if unknown:
        raise typer.BadParameter(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    if names:
        chosen = [known[n] for n in names]
        short = [s.name for s in chosen if s.min_brokers > settings.kafka.brokers]
        if short:
            raise typer.BadParameter(
                f"{', '.join(short)} needs a cluster of 3 brokers: "
                "CLEARCUT_KAFKA_BROKERS=3 clearcut up"
            )
        return chosen
    return [s for s in catalogue() if s.min_brokers <= settings.kafka.brokers]


def _say(line: str) -> None:
    now = datetime.now(UTC).strftime("%H:%M:%S")
    console.print(f"  {now} {line}", highlight=False)


def table(results: list[Tally]) -> Table:
    out = Table(title="clearcut chaos", show_lines=False)
    for column in (
        "scenario",
        "uploads",
        "accepted",
        "completed",
        "failed (reasons)",
        "lost",
        "duplicated",
        "half-stored",
        "HTTP answers",
        "drained",
        "verdict",
    ):
        out.add_column(column)
    for r in results:
        failed = ", ".join(f"{n} {reason}" for reason, n in r.failed.items()) or "0"
        answers = ", ".join(f"{code}: {n}" for code, n in sorted(r.statuses.items()))
        out.add_row(
            r.scenario,
            str(r.uploads),
            str(r.accepted),
            str(r.completed),
            failed,
            str(len(r.lost)),
            str(len(r.duplicated)),
            str(len(r.orphans)),
            answers,
            "-" if r.drain_s is None else f"{r.drain_s:.0f} s",
            "ok" if r.ok else "FAILED",
        )
    return out


def markdown(results: list[Tally]) -> str:
    lines = [
        "| scenario | uploads | accepted | completed | failed | lost | duplicated "
        "| half-stored | HTTP answers | drained after repair |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        failed = ", ".join(f"{n} {reason}" for reason, n in r.failed.items()) or "0"
        answers = ", ".join(f"{code}: {n}" for code, n in sorted(r.statuses.items()))
        drained = "-" if r.drain_s is None else f"{r.drain_s:.0f} s"
        lines.append(
            f"| {r.scenario} | {r.uploads} | {r.accepted} | {r.completed} | {failed} "
            f"| {len(r.lost)} | {len(r.duplicated)} | {len(r.orphans)} | {answers} | {drained} |"
        )
    return "\n".join(lines)


def chaos(
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help="Scenarios to run, in order (default: every one the stack allows): "
            + ", ".join(s.name for s in catalogue())
            + ".",
            show_default=False,
        ),
    ] = None,
    uploads: Annotated[
        int, typer.Option("--uploads", min=1, help="Distinct uploads per scenario's burst.")
    ] = 24,
    interval: Annotated[
        float, typer.Option("--interval", min=0.0, help="Seconds between two uploads.")
    ] = 0.5,
    settle: Annotated[
        float,
        typer.Option(
            "--settle", min=1.0, help="Seconds after the repair for every image to finish."
        ),
    ] = 300.0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every figure to this JSON file.")
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="List the scenarios and what each does.")
    ] = False,
) -> None:
    """Inject faults into the running pipeline (started by `clearcut up`) during a burst of
    uploads, and count per scenario: accepted, completed, failed (with reasons), lost,
    duplicated, and every HTTP answer the uploads got.

    Components are stopped with `clearcut stack down NAME`, services killed with SIGKILL and
    restarted with `clearcut up NAME`. Use a stack nobody else needs. Exit 1 when an image
    was lost or duplicated, or an upload got a 5xx other than 503 with Retry-After."""
    if list_only:
        for s in catalogue():
            needs = f"  (needs {s.min_brokers} brokers)" if s.min_brokers > 1 else ""
            console.print(f"{s.name:<15} {s.what}{needs}", highlight=False)
        return
    settings = CommonSettings()
    chosen = _chosen(scenarios, settings)
    from services.upload.settings import UploadSettings

    upload = UploadSettings()
    api = f"http://{upload.host}:{upload.port}"
    auth = AuthSettings()
    key = auth.dev_key.get_secret_value()
    results: list[Tally] = []

    async def run_all() -> None:
        ctx = Context(settings)
        for scenario in chosen:
            result = await run_scenario(
                scenario,
                ctx,
                api=api,
                key=key,
                owner=auth.dev_owner,
                count=uploads,
                interval_s=interval,
                settle_s=settle,
                say=_say,
            )
            results.append(result)
            wide.print(table([result]))
            if result.note:
                console.print(f"  note: {result.note}", highlight=False)
            if json_out is not None:
                _write(json_out, results)

    try:
        asyncio.run(run_all())
    except ControlError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    finally:
        if len(results) > 1:
            wide.print(table(results))
        if results:
            console.print(markdown(results), highlight=False, markup=False)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _write(path: Path, results: list[Tally]) -> None:
    rows = [
        {
            "scenario": r.scenario,
            "uploads": r.uploads,
            "accepted": r.accepted,
            "completed": r.completed,
            "failed": dict(r.failed),
            "lost": r.lost,
            "duplicated": r.duplicated,
            "statuses": dict(r.statuses),
            "bad_statuses": dict(r.bad_statuses),
            "orphans": r.orphans,
            "drain_s": r.drain_s,
            "note": r.note,
            "ok": r.ok,
        }
        for r in results
    ]
    path.write_text(json.dumps(rows, indent=2, default=str) + "\n")


def register(app: typer.Typer) -> None:
    app.command("chaos")(chaos)
