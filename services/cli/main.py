"""Entry point of the ``clearcut`` command."""

from __future__ import annotations

import typer

from services.cli import (
    bench,
    chaos,
    dlq,
    docs,
    doctor,
    notifier,
    pipeline,
    processor,
    replay,
    stack,
    status,
    submit,
    topics,
    upload,
    usage,
    webhooks,
)

app = typer.Typer(
    name="clearcut",
    help="Clearcut: an event-driven pipeline that removes the background from photos.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
pipeline.register(app)
bench.register(app)
chaos.register(app)
doctor.register(app)
submit.register(app)
replay.register(app)
upload.register(app)
processor.register(app)
notifier.register(app)
usage.register(app)
status.register(app)
webhooks.register(app)
app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.add_typer(docs.app, name="docs")
app.add_typer(dlq.app, name="dlq")

if __name__ == "__main__":
    app()
