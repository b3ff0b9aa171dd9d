"""``clearcut topics``: the project's Kafka topics."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from services.common.kafka.admin import create_topics, describe_topics, project_topics
from services.common.settings import CommonSettings

app = typer.Typer(help="Create and list the project's Kafka topics.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command()
def create() -> None:
    """Create every image topic and its dead-letter topic from the settings. Idempotent."""
    settings = CommonSettings()
    specs = project_topics(settings.topics)
    try:
        result = asyncio.run(create_topics(settings.kafka, specs))
    except Exception as exc:
        console.print(
            f"[bold red]error:[/] cannot create topics on {settings.kafka.bootstrap_servers}: {exc}"
        )
        raise typer.Exit(1) from exc
    for spec in specs:
        console.print(
            f"  {result[spec.name]:<8} {spec.name}  partitions={spec.partitions} "
            f"retention.ms={spec.config['retention.ms']}",
            highlight=False,
        )


@app.command("list")
def list_() -> None:
    """The project's topics and their partition counts; missing ones are flagged."""
    settings = CommonSettings()
    specs = project_topics(settings.topics)
    found = asyncio.run(describe_topics(settings.kafka, [s.name for s in specs]))
    for spec in specs:
        count = found.get(spec.name)
        state = f"partitions={count}" if count is not None else "[red]missing[/]"
        console.print(f"  {spec.name:<40} {state}")
    if len(found) < len(specs):
        raise typer.Exit(1)
