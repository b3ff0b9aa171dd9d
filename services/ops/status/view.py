"""The status screen as rich renderables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from services.ops.status.figures import Figures
from services.ops.status.sources import Scraped, ServiceHealth

NO_DATA = "no data"


@dataclass(frozen=True)
class Report:
    at: datetime
    services: list[ServiceHealth]
    figures: Figures
    prometheus_url: str
    prometheus_error: str | None  # None: the figures come from Prometheus
    scraped: dict[str, Scraped]
    firing: list[str]  # alerts firing in Prometheus (none without it)

    @property
    def all_ready(self) -> bool:
        return all(s.ready for s in self.services)


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return NO_DATA
    text = f"{value:.0f}" if value == int(value) and abs(value) >= 1 else f"{value:.3g}"
    return f"{text}{unit}"


def _seconds(value: float | None) -> str:
    if value is None:
        return NO_DATA
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _services(report: Report) -> Table:
    table = Table(title="Services", title_justify="left", expand=False)
    table.add_column("service")
    table.add_column("state")
    table.add_column("probed")
    if report.prometheus_error is None:
        table.add_column("in Prometheus")
    for health in report.services:
        style = "green" if health.ready else "red"
        row: list[str | Text] = [health.name, Text(health.detail, style=style), health.url]
        if report.prometheus_error is None:
            seen = report.scraped.get(f"clearcut-{health.name}")
            row.append("no target" if seen is None else f"{seen.up}/{seen.targets} up")
        table.add_row(*row)
    return table


def _figures(figures: Figures) -> Table:
    rate = "/s" if figures.per_second else ""
    table = Table(title=f"Pipeline, {figures.window}", title_justify="left", expand=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    throughput = "per second" if figures.per_second else "total"
    table.add_row(f"uploads accepted ({throughput})", _number(figures.accepted, rate))
    table.add_row(f"tasks completed ({throughput})", _number(figures.completed, rate))
    table.add_row(f"tasks failed ({throughput})", _number(figures.failed, rate))
    ratio = None if figures.failure_ratio is None else figures.failure_ratio * 100
    table.add_row("failure ratio", _number(ratio, " %"))
    table.add_row("task latency p50", _seconds(figures.task_p50))
    table.add_row("task latency p95", _seconds(figures.task_p95))
    table.add_row("task latency p99", _seconds(figures.task_p99))
    table.add_row("processor lag (uploads waiting)", _number(figures.lag))
    table.add_row("websocket connections", _number(figures.connections))
    dead = "in 10 min" if "Prometheus" in figures.window else "since start"
    table.add_row(f"dead letters ({dead})", _number(figures.dead_letters))
    for reason, value in sorted(figures.failures_by_reason.items()):
        table.add_row(f"  failures: {reason}", _number(value, rate))
    return table


def render(report: Report) -> RenderableType:
    if report.prometheus_error is None:
        source = Text(f"Figures from Prometheus at {report.prometheus_url}.")
    else:
        source = Text(
            f"Prometheus at {report.prometheus_url} does not answer "
            f"({report.prometheus_error}): figures from the services' own /metrics.",
            style="yellow",
        )
    down = [s.name for s in report.services if not s.ready]
    if down:
        summary = Text(f"Not ready: {', '.join(down)}.", style="bold red")
    else:
        summary = Text("Every service is ready.", style="bold green")
    parts: list[RenderableType] = [summary]
    if report.prometheus_error is None:
        if report.firing:
            parts.append(Text(f"Alerts firing: {', '.join(report.firing)}.", style="bold red"))
        else:
            parts.append(Text("No alert is firing.", style="green"))
    header = Text(f"Clearcut status at {report.at:%Y-%m-%d %H:%M:%S} UTC", style="bold")
    return Group(header, source, *parts, _services(report), _figures(report.figures))
