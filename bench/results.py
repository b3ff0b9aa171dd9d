"""What one scenario run produced: targets, tables, a plot, notes and raw data (pure)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """A quality bar: ``value`` must be at most (or at least) ``limit``."""

    name: str
    value: float
    limit: float
    at_most: bool
    unit: str = ""

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    @property
    def bar(self) -> str:
        sign = "≤" if self.at_most else "≥"
        return f"{sign} {_number(self.limit)}{(' ' + self.unit) if self.unit else ''}"


@dataclass(frozen=True)
class Metric:
    """A headline figure without a target."""

    name: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Series:
    label: str
    x: list[float]
    y: list[float]
    style: str = "line"  # line, step, scatter, bar


def cdf(label: str, values: list[float], points: int = 500) -> Series:
    """A cumulative distribution: sorted values against the fraction at or below each (at
    most ``points`` of them, evenly spaced in rank)."""
    ordered = sorted(values)
    count = len(ordered)
    ranks = (
        range(count)
        if count <= points
        else sorted({i * (count - 1) // (points - 1) for i in range(points)})
    )
    return Series(label, [ordered[i] for i in ranks], [(i + 1) / count for i in ranks], "step")


@dataclass(frozen=True)
class Plot:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    log_x: bool = False
    log_y: bool = False
    categories: list[str] = field(default_factory=list)  # tick labels of x = 0, 1, 2, ...


@dataclass
class ScenarioResult:
    scenario: str
    title: str
    params: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    headline: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    # Filled in by the runner.
    command: str = ""
    started_at: str = ""
    duration_s: float = 0.0
    conditions: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Everything but the plots (drawn from ``data``), as JSON-ready data (NaN: null)."""
        body = asdict(self)
        body.pop("plots")
        body["targets"] = [dict(asdict(t), met=t.met, bar=t.bar) for t in self.targets]
        cleaned: dict[str, Any] = _clean(body)
        return cleaned


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _number(value: float) -> str:
    return f"{value:g}"
