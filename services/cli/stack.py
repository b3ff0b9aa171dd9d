"""``clearcut stack``: the local infrastructure (Kafka, MinIO, PostgreSQL, Jaeger, model)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.common.auth import AuthSettings
from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import CommonSettings
from services.devstack.component import Component, Status
from services.devstack.gotools import KUSTOMIZE, PROMTOOL
from services.devstack.k8s_schemas import ensure_schemas
from services.devstack.process import StackError
from services.devstack.stack import (
    COMPONENT_NAMES,
    component_names,
    components,
    install_all,
    running_kafka_nodes,
    wipe,
)
from services.devstack.system import TEST_TOOLS, ensure_debian_packages
from services.run.model import fetch_model, model_status

app = typer.Typer(
    help="Start, stop and inspect the local stack (no Docker needed).", no_args_is_help=True
)
console = Console(soft_wrap=True)

Only = Annotated[
    list[str] | None,
    typer.Argument(help=f"Components to act on (default: all of {', '.join(COMPONENT_NAMES)})."),
]


def _check_names(only: list[str] | None, settings: CommonSettings) -> list[str] | None:
    names = component_names(settings)
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise typer.BadParameter(
            f"unknown component {', '.join(unknown)}; choose from {', '.join(names)}"
        )
    return only


BrokersOption = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        min=1,
        max=9,
        help="Kafka nodes (default CLEARCUT_KAFKA_BROKERS, 1). With 3, topics are replicated "
        "3 times with min.insync.replicas=2; start the services with the same "
        "CLEARCUT_KAFKA_BROKERS so they bootstrap from every node.",
    ),
]


def with_brokers(settings: CommonSettings, brokers: int | None) -> CommonSettings:
    """The settings with ``brokers`` Kafka nodes; the environment says the same to every
    process started from here (the services of `clearcut up`)."""
    if brokers is None:
        return settings
    os.environ["CLEARCUT_KAFKA_BROKERS"] = str(brokers)
    kafka = settings.kafka.model_copy(update={"brokers": brokers})
    return settings.model_copy(update={"kafka": kafka})


def fail(exc: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(1)


def stopping(settings: CommonSettings, only: list[str] | None) -> list[Component]:
    """What `down` stops: the named components, and with ``kafka`` (or everything) every
    Kafka node that runs, whatever number of brokers the settings name."""
    chosen = components(settings, only)
    if not only or "kafka" in only:
        names = {c.name for c in chosen}
        extra = [n for n in running_kafka_nodes(settings) if n.name not in names]
        at = next((i for i, c in enumerate(chosen) if c.group == "kafka"), 1)
        chosen[at:at] = extra
    return chosen


def bring_up(settings: CommonSettings, only: list[str] | None = None) -> None:
    """Install what is missing, start what is stopped, create topics and buckets."""
    install_all(settings, only, [] if only else [("model", lambda: fetch_model(settings))])
    chosen = components(settings, only)
    groups = [[c for c in chosen if c.group == g] for g in dict.fromkeys(c.group for c in chosen)]
    for group in groups:
        started = time.monotonic()
        outcomes = [component.begin() for component in group]  # a cluster's nodes together
        for component, outcome in zip(group, outcomes, strict=True):
            component.finish(outcome)
            console.print(
                f"  {component.name:<9} {outcome:<16} {component.address()}"
                f"  [dim]({time.monotonic() - started:.1f} s)[/]",
                highlight=False,
            )
    if any(c.group == "kafka" for c in chosen):
        result = asyncio.run(create_topics(settings.kafka, project_topics(settings.topics)))
        created = [t for t, r in result.items() if r == "created"]
        console.print(f"  topics    {len(created)} created, {len(result) - len(created)} existed")
    if not only or "postgres" in only:
        from services.upload.migrations.runner import migrate_and_seed

        applied, _ = asyncio.run(migrate_and_seed(settings.postgres, AuthSettings()))
        console.print(f"  schema    {len(applied)} migrations applied")


@app.command()
def up(only: Only = None, brokers: BrokersOption = None) -> None:
    """Install what is missing, start everything, create topics and buckets. Idempotent."""
    settings = with_brokers(CommonSettings(), brokers)
    try:
        bring_up(settings, _check_names(only, settings))
    except StackError as exc:
        raise fail(exc) from exc
    console.print(
        f"Stack is up. State and logs under {settings.paths.home}. "
        "`clearcut stack status` shows it; `clearcut stack down` stops it."
    )


@app.command()
def down(
    only: Only = None,
    wipe_data: Annotated[
        bool, typer.Option("--wipe", help="Also delete all data and logs (topics, objects, rows).")
    ] = False,
) -> None:
    """Stop the stack. Data is kept unless --wipe is given."""
    settings = CommonSettings()
    try:
        chosen = stopping(settings, _check_names(only, settings))
        for component in reversed(chosen):
            stopped = component.down()
            console.print(f"  {component.name:<9} {'stopped' if stopped else 'was not running'}")
    except StackError as exc:
        raise fail(exc) from exc
    if wipe_data:
        wipe(settings)
        console.print(f"  wiped {settings.paths.home}")


@app.command()
def status() -> None:
    """Each component's health, version, address and log file, then the four services
    (started by `clearcut up`). Exit 1 if a component is down; services are shown only."""
    from services.run.processes import services

    settings = CommonSettings()
    statuses = [c.status() for c in components(settings)] + [model_status(settings)]
    _print_statuses(statuses)
    console.print("services (clearcut up / clearcut down; logs: clearcut logs SERVICE)")
    _print_statuses([s.status() for s in services(settings)])
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


def _print_statuses(statuses: list[Status]) -> None:
    for s in statuses:
        if s.name == "model":
            state = "[green]verified[/]" if s.healthy else "[red]missing[/]"
        elif s.healthy:
            state = "[green]healthy[/]"
        else:
            state = "[yellow]unhealthy[/]" if s.running else "[red]stopped[/]"
        pid = f"  pid {s.pid}" if s.pid else ""
        console.print(f"{s.name:<9} {state:<20} {s.version}{pid}", highlight=False)
        console.print(f"          {s.address}", highlight=False)
        console.print(f"          log: {s.log}", style="dim", highlight=False)


LinesOption = Annotated[
    int, typer.Option("--lines", "-n", min=0, help="How many lines to show.", metavar="N")
]
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep printing new lines (across rotations).")
]


_LOG_FIELDS = ("time", "level", "logger", "message", "service", "exc_info", "span_id")


def readable_log_line(line: str) -> str:
    """One line of a service's JSON log as a person reads it: time, level, logger, message,
    then the ids it carries; `exc_info` (a traceback) on the lines below. A line that is
    not a JSON object is returned as it is."""
    try:
        record = json.loads(line)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(record, dict) or "message" not in record:
        return line.rstrip("\n")
    ids = " ".join(
        f"{key}={value}"
        for key, value in record.items()
        if key not in _LOG_FIELDS and value not in (None, "")
    )
    text = (
        f"{record.get('time', '')} {record.get('level', ''):<7} {record.get('logger', '')}: "
        f"{record['message']}"
    )
    if ids:
        text += f"  [{ids}]"
    if record.get("exc_info"):
        text += "\n" + str(record["exc_info"])
    return text


def show_log(name: str, log: Path, lines: int, follow: bool, *, raw: bool = True) -> None:
    """`tail` of a log file; with `raw=False` each JSON line is shown readable."""
    if not log.exists():
        raise fail(FileNotFoundError(f"{name} has no log yet ({log})"))
    argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), str(log)]
    with contextlib.suppress(KeyboardInterrupt):
        if raw:
            raise typer.Exit(subprocess.call(argv))
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as tail:
            assert tail.stdout is not None
            for line in tail.stdout:
                print(readable_log_line(line), flush=True)
        raise typer.Exit(tail.returncode)


@app.command()
def logs(
    component: Annotated[str, typer.Argument(help=f"One of {', '.join(COMPONENT_NAMES)}.")],
    lines: LinesOption = 50,
    follow: FollowOption = False,
) -> None:
    """Show a component's log file (a service's: `clearcut logs SERVICE`)."""
    from services.run.processes import SERVICE_NAMES

    if component in SERVICE_NAMES:
        raise typer.BadParameter(
            f"{component} is a service, not a component; use: clearcut logs {component}"
        )
    settings = CommonSettings()
    _check_names([component], settings)
    (target, *_) = components(settings, [component])
    show_log(component, target.process.log_file, lines, follow)


@app.command()
def install(
    test_tools: Annotated[
        bool, typer.Option("--test-tools", help="Also install what the test suite needs.")
    ] = False,
) -> None:
    """Only fetch and build what is missing (Kafka jars, MinIO, Jaeger, Prometheus, the model;
    with --test-tools also docker-compose, Chromium, Node.js, promtool, kustomize and
    the Kubernetes schemas)."""
    settings = CommonSettings()
    try:
        if test_tools:
            ensure_debian_packages(TEST_TOOLS)
            logs = settings.paths.home / "logs"
            PROMTOOL.ensure(settings.paths.cache_dir, logs / "build-promtool.log")
            KUSTOMIZE.ensure(settings.paths.cache_dir, logs / "build-kustomize.log")
            ensure_schemas(settings.paths.cache_dir, logs / "install-k8s-schemas.log")
        install_all(settings, extra=[("model", lambda: fetch_model(settings))])
        path = fetch_model(settings)
    except StackError as exc:
        raise fail(exc) from exc
    console.print(f"Everything is installed. Default model: {path}")
