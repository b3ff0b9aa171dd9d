"""``clearcut docs``: documentation generated from the code."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli import settings_doc

app = typer.Typer(help="Documentation generated from the code.", no_args_is_help=True)


@app.command()
def settings(
    write: Annotated[bool, typer.Option("--write", help="Update README.md in place.")] = False,
) -> None:
    """Print every setting (environment variable, default, meaning) as a Markdown table."""
    if write:
        changed = settings_doc.write_readme()
        typer.echo("README.md updated" if changed else "README.md already up to date")
    else:
        typer.echo(settings_doc.render())


@app.command()
def monitoring(
    write: Annotated[
        bool, typer.Option("--write", help="Write the files (otherwise list the stale ones).")
    ] = False,
) -> None:
    """Generate the Kubernetes PrometheusRule (from deploy/prometheus/rules.yml) and the
    Grafana overview dashboard (from services/ops/dashboard.py). Without --write, exit 1 if
    a committed file differs from what would be generated."""
    from services.common.settings import REPO_ROOT
    from services.ops import generated

    if write:
        written = generated.write_all()
        for path in written:
            typer.echo(f"wrote {path.relative_to(REPO_ROOT)}")
        if not written:
            typer.echo("every generated file is up to date")
        return
    stale = generated.stale()
    for path in stale:
        typer.echo(f"stale: {path.relative_to(REPO_ROOT)}")
    if stale:
        raise typer.Exit(1)
    typer.echo("every generated file is up to date")
