"""What the status screen says, from a report (pure rendering)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from services.ops.status.figures import Figures
from services.ops.status.sources import Scraped, ServiceHealth
from services.ops.status.view import Report, render

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SERVICES = [
    ServiceHealth("upload", "http://127.0.0.1:8080/readyz", True, "ready"),
    ServiceHealth("notifier", "http://127.0.0.1:8081/readyz", False, "down: connection refused"),
]
FIGURES = Figures("last 5 min (Prometheus recording rules)", True, accepted=2.5, task_p95=0.25)


def _text(report: Report) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(render(report))
    return console.export_text()


def test_a_screen_from_prometheus_names_what_is_down_and_what_fires() -> None:
    report = Report(
        AT,
        SERVICES,
        FIGURES,
        "http://prom:9090",
        None,
        {"clearcut-upload": Scraped(2, 3)},
        ["ClearcutServiceDown"],
    )
    text = _text(report)
    assert "Figures from Prometheus at http://prom:9090." in text
    assert "Not ready: notifier." in text
    assert "Alerts firing: ClearcutServiceDown." in text
    assert "2/3 up" in text and "no target" in text
    assert "2.5/s" in text and "250 ms" in text
    assert "dead letters (in 10 min)" in text
    assert not report.all_ready


def test_a_screen_without_prometheus_says_where_its_figures_come_from() -> None:
    figures = Figures("since each service started (services' /metrics)", False, accepted=3)
    report = Report(AT, SERVICES[:1], figures, "http://prom:9090", "down: no answer", {}, [])
    text = _text(report)
    assert "does not answer (down: no answer)" in text
    assert "Every service is ready." in text
    assert "alert" not in text.lower()  # nothing is known about alerts without Prometheus
    assert "uploads accepted (total)" in text and "dead letters (since start)" in text
    assert report.all_ready
