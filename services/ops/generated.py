"""The files generated from the monitoring sources, and writing them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.ops import dashboard, rules

GENERATED: dict[Path, Callable[[], str]] = {
    rules.PROMETHEUS_RULE_FILE: rules.render_prometheus_rule,
    dashboard.DASHBOARD_FILE: dashboard.render,
}


def write_all() -> list[Path]:
    """Write every generated file whose content changed; return those written."""
    written: list[Path] = []
    for path, render in GENERATED.items():
        text = render()
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def stale() -> list[Path]:
    return [p for p, render in GENERATED.items() if not p.exists() or p.read_text() != render()]
