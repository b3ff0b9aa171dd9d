"""PNG pictures of results, drawn with matplotlib (loaded only when a plot is written)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from bench.results import Plot


def _pyplot() -> Any:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def write_png(plots: list[Plot], path: Path, caption: str) -> None:
    """All of a scenario's plots side by side in one PNG, with the run's conditions below."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(plots), figsize=(6.4 * len(plots), 4.6), squeeze=False)
    for ax, plot in zip(axes[0], plots, strict=True):
        for series in plot.series:
            if series.style == "step":
                ax.step(series.x, series.y, where="post", label=series.label)
            elif series.style == "scatter":
                ax.scatter(series.x, series.y, s=14, label=series.label)
            elif series.style == "bar":
                ax.bar(series.x, series.y, label=series.label, alpha=0.75)
            elif series.style == "dashed":
                ax.plot(series.x, series.y, linestyle="--", label=series.label)
            else:
                ax.plot(series.x, series.y, marker="o", markersize=3, label=series.label)
        ax.set_title(plot.title, fontsize=11)
        ax.set_xlabel(plot.xlabel)
        ax.set_ylabel(plot.ylabel)
        if plot.categories:
            ax.set_xticks(range(len(plot.categories)), plot.categories, fontsize=8)
        if plot.log_x:
            ax.set_xscale("log")
        if plot.log_y:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if len(plot.series) > 1:
            ax.legend(fontsize=8)
    figure.text(0.01, 0.01, caption, fontsize=7, wrap=True)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
