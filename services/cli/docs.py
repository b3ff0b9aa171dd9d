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
