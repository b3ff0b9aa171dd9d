"""The overview dashboard as code: the panels below (each a PromQL expression over the
recording rules of deploy/prometheus/rules.yml) are the source of truth of the Grafana
dashboard model in deploy/grafana/clearcut-overview.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from services.common.settings import REPO_ROOT

DASHBOARD_FILE = REPO_ROOT / "deploy" / "grafana" / "clearcut-overview.json"
UID = "clearcut-overview"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
COLUMNS = 24  # the width of Grafana's grid


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str  # a Grafana unit id: reqps, s, percentunit, short
    kind: Literal["stat", "timeseries"] = "timeseries"
    width: int = 8
    height: int = 8
    description: str = ""
    thresholds: tuple[float, ...] = field(default=())  # amber, red


def _q(expr: str, legend: str = "") -> tuple[Query, ...]:
    return (Query(expr, legend),)


PANELS: tuple[Panel, ...] = (
    Panel(
        "Services up",
        _q('sum(up{job=~"clearcut-.*"})'),
        "short",
        "stat",
        4,
        4,
        "Targets of the clearcut-* jobs that answer /metrics.",
    ),
    Panel("Uploads accepted", _q("clearcut:uploads_accepted:rate5m"), "reqps", "stat", 4, 4),
    Panel("Completions", _q("clearcut:completions:rate5m"), "reqps", "stat", 4, 4),
    Panel(
        "Processor lag",
        _q("clearcut:processor_lag:sum"),
        "short",
        "stat",
        4,
        4,
        "Uploads not yet consumed by the processors (KEDA scales on it).",
        (50, 100),
    ),
    Panel(
        "Failure ratio",
        _q("clearcut:failure_ratio:rate5m"),
        "percentunit",
        "stat",
        4,
        4,
        "",
        (0.01, 0.05),
    ),
    Panel(
        "Dead letters (10 min)",
        _q("clearcut:dead_letters:increase10m"),
        "short",
        "stat",
        4,
        4,
        "Read them with `clearcut dlq list`.",
        (1, 10),
    ),
    Panel(
        "Throughput",
        (
            Query("clearcut:uploads_accepted:rate5m", "accepted"),
            Query("clearcut:completions:rate5m", "completed"),
            Query("clearcut:uploads_refused:rate5m", "refused {{outcome}}"),
        ),
        "reqps",
        width=12,
    ),
    Panel(
        "Task latency",
        (
            Query("clearcut:task_seconds:p50", "p50"),
            Query("clearcut:task_seconds:p95", "p95"),
            Query("clearcut:task_seconds:p99", "p99"),
        ),
        "s",
        width=12,
        description="From the upload's event to its completion, in the processor.",
    ),
    Panel("Stage latency p95", _q("clearcut:stage_seconds:p95", "{{stage}}"), "s"),
    Panel(
        "Queue wait and inference",
        (
            Query("clearcut:queue_wait_seconds:p95", "queue wait p95"),
            Query("clearcut:inference_seconds:p50", "inference p50"),
        ),
        "s",
    ),
    Panel("Batch size (mean)", _q("clearcut:batch_size:mean"), "short"),
    Panel("Failures by reason", _q("clearcut:failures:rate5m", "{{reason}}"), "reqps"),
    Panel("Processor lag over time", _q("clearcut:processor_lag:sum", "lag"), "short"),
    Panel(
        "Websocket connections", _q("clearcut:websocket_connections:sum", "connections"), "short"
    ),
)


def _layout(panels: tuple[Panel, ...]) -> list[tuple[Panel, dict[str, int]]]:
    """Left to right, wrapping at the grid's width."""
    placed: list[tuple[Panel, dict[str, int]]] = []
    x = y = row_height = 0
    for panel in panels:
        if x + panel.width > COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        placed.append((panel, {"h": panel.height, "w": panel.width, "x": x, "y": y}))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def _panel(number: int, panel: Panel, grid: dict[str, int]) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.thresholds:
        steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
        steps += [
            {"color": color, "value": value}
            for color, value in zip(("orange", "red"), panel.thresholds, strict=False)
        ]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    model: dict[str, Any] = {
        "id": number,
        "type": panel.kind,
        "title": panel.title,
        "gridPos": grid,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
            }
            for index, query in enumerate(panel.queries)
        ],
    }
    if panel.description:
        model["description"] = panel.description
    if panel.kind == "stat":
        model["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    return model


def dashboard(panels: tuple[Panel, ...] = PANELS) -> dict[str, Any]:
    """The Grafana dashboard model (import it, or provision it as a file)."""
    return {
        "uid": UID,
        "title": "Clearcut overview",
        "description": "Throughput, latency, lag and failures of the Clearcut pipeline.",
        "tags": ["clearcut"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": [
            _panel(number, panel, grid)
            for number, (panel, grid) in enumerate(_layout(panels), start=1)
        ],
    }


def expressions(panels: tuple[Panel, ...] = PANELS) -> list[str]:
    return [query.expr for panel in panels for query in panel.queries]


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"
