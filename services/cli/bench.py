"""``clearcut bench SCENARIO``: the benchmark suite against the pipeline of ``clearcut up``.

The suite lives in the ``bench`` package at the repository root (a development tool, not
part of the services nor of the wheel); it is imported only when the command runs, and only
an editable install from the repository can import it.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(soft_wrap=True, highlight=False)

SCENARIO_HELP = (
    "overhead, parity, ceiling, burst, memory, ingest, fanout, peer, scale, or all (every one, "
    "in that order); or, offline: png (PNG encoders at 24 MP) or quality (masks, halos, edges, "
    "saliency metrics)."
)


def _import_bench(module: str) -> Any:
    """``bench.<module>``: the suite is the checkout's top-level ``bench`` package, importable
    where the project is installed editable from its repository (``pip install -e .`` puts the
    repository root on the path); a wheel does not carry it."""
    try:
        return importlib.import_module(f"bench.{module}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench", f"bench.{module}"):
            raise
        console.print(
            "[bold red]error:[/] the benchmark suite (the `bench` package of the repository) "
            "is not importable here; it is not part of the installed package. Install the "
            "project editable from a checkout (`pip install -e '.[dev]'`, as `make up` does) "
            "and run `clearcut bench` from that environment."
        )
        raise typer.Exit(2) from exc


def bench(
    scenario: Annotated[str, typer.Argument(help=SCENARIO_HELP, show_default=False)],
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            min=1,
            help="Size of the scenario (its main count: uploads, rounds, requests per level, "
            "largest subscriber count, photos); smaller runs faster. Default: the full size.",
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Every scenario at a small size (a smoke run).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the results (default bench/results)."),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option("--profile", help="Profile the services with py-spy while the scenario runs."),
    ] = False,
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="quality: a folder in the DIS5K layout (im/, gt/) for the saliency metrics; "
            "default: a small synthetic set the bench makes.",
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="quality: comma-separated registry names (default isnet-general-use,u2netp).",
        ),
    ] = None,
    rembg: Annotated[
        bool,
        typer.Option("--rembg/--no-rembg", help="quality: compare with rembg in the same run."),
    ] = True,
) -> None:
    """Run a benchmark scenario against the running pipeline (started if needed).

    Writes <scenario>.json, .md and .png under bench/results/ and a README.md there that
    sums up the latest result of every scenario, with the machine's load during each. The
    offline scenarios (png, quality) run in this process and need no pipeline.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if scenario == "quality":
        _quality(dataset, models, rembg, out)
        return
    runner = _import_bench("runner")
    if scenario == "all" and n is not None:
        raise typer.BadParameter("--n sizes one scenario; use --quick with all", param_hint="--n")
    options = runner.RunOptions(n=n, quick=quick, profile=profile)
    if out is not None:
        options = dataclasses.replace(options, out_dir=out)
    try:
        runner.chosen(scenario)
    except runner.UnknownScenario as exc:
        raise typer.BadParameter(str(exc), param_hint="SCENARIO") from exc
    bench_error = _import_bench("client").BenchError
    try:
        results = runner.run(scenario, options, lambda line: console.print(line))
    except bench_error as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    failed = [r.scenario for r in results if r.title.endswith(": failed")]
    for result in results:
        for target in result.targets:
            verdict = "met" if target.met else "[bold red]missed[/]"
            console.print(
                f"  {result.scenario:<9} {target.name:<34} {target.value:10.3f} {target.unit:<4} "
                f"{target.bar:<12} {verdict}"
            )
    if failed:
        console.print(f"[bold red]failed:[/] {', '.join(failed)}")
        raise typer.Exit(1)


def _quality(dataset: Path | None, models: str | None, rembg: bool, out: Path | None) -> None:
    """Print the quality tables and write quality.md and quality.json."""
    quality = _import_bench("quality.run")
    if dataset is not None:
        try:
            _import_bench("quality.saliency").pairs(dataset)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--dataset") from exc
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    out_dir = out or _import_bench("runner").RunOptions().out_dir
    text = quality.run(names, dataset, out_dir, lambda line: console.print(line), rembg=rembg)
    console.print(text)
    console.print(f"written: {out_dir / 'quality.md'}, {out_dir / 'quality.json'}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


if __name__ == "__main__":
    standalone = typer.Typer(add_completion=False)
    register(standalone)
    standalone()
