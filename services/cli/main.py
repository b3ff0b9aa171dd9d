"""Entry point of the ``clearcut`` command."""

from __future__ import annotations

import typer

from services.cli import docs, stack, topics

app = typer.Typer(
    name="clearcut",
    help="Clearcut: an event-driven pipeline that removes the background from photos.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.add_typer(docs.app, name="docs")

if __name__ == "__main__":
    app()
