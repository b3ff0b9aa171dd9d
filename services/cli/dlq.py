"""``clearcut dlq list | show | redrive``: what is in the dead-letter topics, one record in
full, and sending chosen records back to their original topic once the cause is fixed."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from schemas import utc_now
from services.cli.instants import HELP as TIME_HELP
from services.cli.instants import InvalidInstant, parse_instant
from services.common.kafka.deadletters import (
    DeadLetter,
    DeadLetterError,
    parse_ref,
    read_dead_letters,
    redrive,
)
from services.common.kafka.producer import create_producer
from services.common.settings import CommonSettings

app = typer.Typer(
    help="Dead-letter topics: list what is in them, show a record, send records back.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True, highlight=False)

Topic = Annotated[
    str | None,
    typer.Argument(
        help="A dead-letter topic (e.g. image.uploaded.dlq) or its base topic; default: all."
    ),
]
Since = Annotated[
    str | None, typer.Option(help=f"Only records dead-lettered at or after this. {TIME_HELP}")
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text, utc_now())
    except InvalidInstant as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def _dlq_topics(common: CommonSettings, topic: str | None) -> list[str]:
    every = [common.topics.dlq(t) for t in common.topics.event_topics]
    if topic is None:
        return every
    if topic in every:
        return [topic]
    if common.topics.dlq(topic) in every:
        return [common.topics.dlq(topic)]
    raise _fail(f"{topic} is not a dead-letter topic; they are: {', '.join(every)}")


def _read(common: CommonSettings, topics: list[str], since: datetime | None) -> list[DeadLetter]:
    async def read_all() -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        for topic in topics:
            letters += await read_dead_letters(common.kafka, topic, since=since)
        return letters

    try:
        return asyncio.run(read_all())
    except (DeadLetterError, KafkaError) as exc:
        raise _fail(str(exc)) from None


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_(
    topic: Topic = None,
    since: Since = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest records shown per topic.")] = 20,
) -> None:
    """Per dead-letter topic: how many records, by reason, and the newest of them."""
    common = CommonSettings()
    for name in _dlq_topics(common, topic):
        letters = _read(common, [name], _since(since))
        reasons = Counter(letter.reason for letter in letters)
        summary = ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
        console.print(f"[bold]{name}[/]  {len(letters)} records  {summary}")
        if not letters:
            continue
        table = Table()
        for column in ("record", "dead-lettered", "reason", "group", "error"):
            table.add_column(column)
        newest = sorted(letters, key=lambda d: d.timestamp)[-limit:]
        for letter in newest:
            table.add_row(
                letter.ref,
                letter.timestamp.isoformat(timespec="seconds"),
                letter.reason,
                letter.header("dlq_consumer_group") or "",
                _short(letter.error),
            )
        console.print(table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="TOPIC:PARTITION:OFFSET, as `list` prints.")],
) -> None:
    """One dead letter in full: every header, and the value (as JSON when it is)."""
    common = CommonSettings()
    try:
        topic, partition, offset = parse_ref(ref)
    except DeadLetterError as exc:
        raise _fail(str(exc)) from None
    letters = _read(common, _dlq_topics(common, topic), None)
    found = [d for d in letters if (d.partition, d.offset) == (partition, offset)]
    if not found:
        raise _fail(f"no record {ref}")
    (letter,) = found
    console.print(f"[bold]{letter.ref}[/]  written {letter.timestamp.isoformat()}")
    console.print(f"key: {letter.key.decode('utf-8', 'replace') if letter.key else '(none)'}")
    for key, value in letter.headers:
        console.print(f"  {key}: {value.decode('utf-8', 'replace')}")
    try:
        console.print_json(json.dumps(json.loads(letter.value)))
    except ValueError:
        console.print(f"value ({len(letter.value)} bytes, not JSON): {letter.value[:200]!r}")


@app.command("redrive")
def redrive_(
    topic: Topic = None,
    since: Since = None,
    reason: Annotated[
        str | None, typer.Option(help="Only records dead-lettered for this reason.")
    ] = None,
    record: Annotated[
        list[str] | None,
        typer.Option("--record", help="Only this TOPIC:PARTITION:OFFSET; repeat for several."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be sent back; send nothing.")
    ] = False,
) -> None:
    """Send dead letters back to their original topic, unchanged, once their cause is fixed.

    Key, value, event id and headers stay the same. Consumers apply an event once, so a
    record that was applied after all, or is redriven twice, changes nothing the second time.
    """
    common = CommonSettings()
    letters = _read(common, _dlq_topics(common, topic), _since(since))
    if reason is not None:
        letters = [d for d in letters if d.reason == reason]
    if record:
        wanted = set(record)
        letters = [d for d in letters if d.ref in wanted]
        missing = wanted - {d.ref for d in letters}
        if missing:
            raise _fail(f"no such dead letter: {', '.join(sorted(missing))}")
    for letter in letters:
        console.print(f"{letter.ref} → {letter.original_topic}  ({letter.reason})")
    if dry_run:
        console.print(f"dry run: {len(letters)} records would be sent back")
        return

    async def send() -> int:
        producer = create_producer(common.kafka, "clearcut-dlq-redrive")
        await producer.start()
        try:
            return await redrive(producer, letters)
        finally:
            await producer.stop()

    try:
        sent = asyncio.run(send())
    except (DeadLetterError, KafkaError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"[green]sent back {sent} records[/]")
