"""Writing results under the results folder: ``<scenario>.json``, ``.md`` and ``.png`` per
scenario, and ``README.md`` summarising the latest result of every scenario there."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bench.report import conditions_text, render_result, render_summary
from bench.results import Metric, ScenarioResult, Target

logger = logging.getLogger(__name__)

SUMMARY = "README.md"


def write_result(result: ScenarioResult, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if result.plots:
        png = folder / f"{result.scenario}.png"
        try:
            from bench.plots import write_png

            write_png(
                result.plots, png, f"{result.started_at}  {conditions_text(result.conditions)}"
            )
            result.files.append(png.name)
            written.append(png)
        except ImportError as exc:
            logger.warning("no plot for %s: %s (install matplotlib)", result.scenario, exc)
    for suffix, text in (
        (".md", render_result(result)),
        (".json", json.dumps(result.as_json(), indent=1) + "\n"),
    ):
        path = folder / f"{result.scenario}{suffix}"
        path.write_text(text)
        written.append(path)
    return written


def load_results(folder: Path, order: list[str]) -> list[ScenarioResult]:
    """The latest stored result of each scenario, in ``order``."""
    found = []
    for name in order:
        path = folder / f"{name}.json"
        if path.exists():
            found.append(from_json(json.loads(path.read_text())))
    return found


def write_summary(folder: Path, order: list[str]) -> Path:
    """``README.md``: the latest result of each scenario, on the machine of the newest one."""
    results = load_results(folder, order)
    newest = max(results, key=lambda r: r.started_at, default=None)
    machine = newest.conditions.get("machine", {}) if newest else {}
    path = folder / SUMMARY
    path.write_text(render_summary(results, machine))
    return path


def from_json(body: dict[str, Any]) -> ScenarioResult:
    """Enough of a stored result to summarise it (tables, plots and raw data are left out)."""
    return ScenarioResult(
        scenario=body["scenario"],
        title=body["title"],
        params=body.get("params", {}),
        targets=[
            Target(t["name"], _float(t["value"]), t["limit"], t["at_most"], t.get("unit", ""))
            for t in body.get("targets", [])
        ],
        headline=[
            Metric(m["name"], _float(m["value"]), m.get("unit", ""))
            for m in body.get("headline", [])
        ],
        notes=body.get("notes", []),
        command=body.get("command", ""),
        started_at=body.get("started_at", ""),
        duration_s=body.get("duration_s", 0.0),
        conditions=body.get("conditions", {}),
        files=body.get("files", []),
    )


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
