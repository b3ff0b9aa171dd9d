"""``clearcut status``: one screen for an operator."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from services.common.settings import CommonSettings
from services.ops.status.collect import Collector
from services.ops.status.view import render
from services.run.processes import service_specs

console = Console(highlight=False)


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh the screen until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.5, help="Seconds between refreshes with --watch.")
    ] = 2.0,
    prometheus: Annotated[
        str | None,
        typer.Option(help="Prometheus's URL (default: CLEARCUT_PROMETHEUS_HOST and _PORT)."),
    ] = None,
) -> None:
    """Which services are ready, and the pipeline's throughput, task latency percentiles,
    processor lag, failures and dead letters. The figures come from Prometheus's recording
    rules (deploy/prometheus/rules.yml) when it answers, otherwise from the services' own
    /metrics (totals since they started; rates between refreshes with --watch). Readiness is
    each service's /readyz (the projector's /metrics) at the address its settings give.
    Exit 1 if a service is not ready (once the screen is printed); with --watch, 0 on Ctrl-C.
    """
    url = (prometheus or CommonSettings().prometheus.url).rstrip("/")
    collector = Collector(service_specs(), url)
    report = asyncio.run(collector.report())
    if not watch:
        console.print(render(report))
        if not report.all_ready:
            raise typer.Exit(1)
        return
    live = Live(render(report), console=console, auto_refresh=False)
    with live, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_refresh(live, collector, interval))


async def _refresh(live: Live, collector: Collector, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        live.update(render(await collector.report()), refresh=True)
