"""``clearcut init``, ``clearcut up``, ``clearcut down``: the whole pipeline on one machine."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Annotated

import typer
from rich.console import Console

from services.cli.stack import BrokersOption, FollowOption, LinesOption, show_log, stopping
from services.common.auth import AuthSettings
from services.common.kafka.admin import create_topics, project_topics
from services.common.s3 import ensure_buckets
from services.common.settings import CommonSettings
from services.devstack.process import StackError
from services.devstack.stack import COMPONENT_NAMES, components, wipe
from services.run.processes import SERVICE_NAMES, services

console = Console(soft_wrap=True)


def init() -> None:
    """Create the topics, the buckets and the database schema (idempotent).

    The Docker Compose `init` service and `clearcut up` run it.
    """
    from services.upload.migrations.runner import migrate_and_seed

    settings = CommonSettings()
    try:
        topics = asyncio.run(create_topics(settings.kafka, project_topics(settings.topics)))
        buckets = ensure_buckets(settings.s3, settings.retention)
        applied, seeded = asyncio.run(migrate_and_seed(settings.postgres, AuthSettings()))
    except Exception as exc:
        console.print(f"[bold red]error:[/] init failed: {exc}")
        raise typer.Exit(1) from exc
    created = sum(1 for r in topics.values() if r == "created")
    console.print(f"  topics     {created} created, {len(topics) - created} existed")
    made = sum(1 for r in buckets.values() if r == "created")
    console.print(f"  buckets    {made} created, {len(buckets) - made} existed")
    console.print(f"  migrations {len(applied)} applied" + (", dev key seeded" if seeded else ""))


def up(
    only: Annotated[
        list[str] | None,
        typer.Argument(help=f"Services to start (default: all of {', '.join(SERVICE_NAMES)})."),
    ] = None,
    brokers: BrokersOption = None,
) -> None:
    """Start the whole pipeline: the stack, then every service in the background.

    Waits until each service is ready and prints where to go.
    """
    from services.cli.stack import bring_up, with_brokers

    settings = with_brokers(CommonSettings(), brokers)
    started = time.monotonic()
    try:
        bring_up(settings)
        chosen = services(settings, only)
        for service in chosen:
            outcome = service.start()
            console.print(f"  {service.spec.name:<9} {outcome:<16} {service.url}")
        deadline_of = {s.spec.name: time.monotonic() + s.spec.start_timeout for s in chosen}
        for service in chosen:
            service.wait_ready(deadline_of[service.spec.name])
    except StackError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    _print_directions(settings, time.monotonic() - started)


def _print_directions(settings: CommonSettings, elapsed: float) -> None:
    from services.notifier.settings import NotifierSettings
    from services.upload.settings import UploadSettings

    upload, notifier, auth = UploadSettings(), NotifierSettings(), AuthSettings()
    api = f"http://{upload.host}:{upload.port}"
    s3, tel = settings.s3, settings.telemetry
    dev_key = auth.dev_key.get_secret_value()
    console.print(
        f"\nClearcut is up ({elapsed:.0f} s).\n"
        f"  web page      {api}/   (open it in a browser: drop photos, get cut-outs)\n"
        f"  API docs      {api}/docs   (OpenAPI: {api}/openapi.json)\n"
        f"  websocket     ws://{notifier.host}:{notifier.port}/v1/ws\n"
        f"  traces        {tel.query_url}/api/traces?service=upload  (Jaeger query API)\n"
        f"  MinIO console http://{s3.host}:{s3.console_port}  "
        f"(user {s3.access_key}, {_secret_hint()})\n"
        f"  API key       {dev_key or '(none seeded; create one with clearcut keys create)'}"
        f"  (owner {auth.dev_owner}, development only)\n"
        f"  logs          {settings.paths.home / 'logs'}\n"
        f"Try:  clearcut submit photo.jpg --wait --out cutouts/\n"
        f"Stop: clearcut down",
        highlight=False,
    )


def _secret_hint() -> str:
    """Where the MinIO password is: the variable when it is set, else the development default."""
    if os.environ.get("CLEARCUT_S3_SECRET_KEY"):
        return "password in CLEARCUT_S3_SECRET_KEY"
    from services.common.settings import S3Settings

    default = S3Settings().secret_key.get_secret_value()
    return f"password {default}: the development default; set CLEARCUT_S3_SECRET_KEY to change it"


def down(
    keep_stack: Annotated[
        bool, typer.Option("--keep-stack", help="Stop only the services, not the stack.")
    ] = False,
    wipe_data: Annotated[
        bool, typer.Option("--wipe", help="Also delete all data and logs (topics, objects, rows).")
    ] = False,
) -> None:
    """Stop the services, then the stack. Data is kept unless --wipe is given."""
    settings = CommonSettings()
    try:
        for service in reversed(services(settings)):
            stopped = service.stop()
            console.print(f"  {service.spec.name:<9} {'stopped' if stopped else 'was not running'}")
        if not keep_stack:
            for component in reversed(stopping(settings, None)):
                stopped = component.down()
                console.print(
                    f"  {component.name:<9} {'stopped' if stopped else 'was not running'}"
                )
    except StackError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    if wipe_data:
        if keep_stack:
            raise typer.BadParameter("--wipe needs the stack stopped too; drop --keep-stack")
        wipe(settings)
        console.print(f"  wiped {settings.paths.home}")


def logs(
    service: Annotated[
        str,
        typer.Argument(
            help=f"One of {', '.join(SERVICE_NAMES)} "
            f"(or a component: {', '.join(COMPONENT_NAMES)})."
        ),
    ],
    lines: LinesOption = 50,
    follow: FollowOption = False,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print the log's JSON lines as they are.")
    ] = False,
) -> None:
    """Show a service's log file, `.clearcut/logs/<service>.log`, as `clearcut up` runs it.

    Each JSON line is shown as `time level logger: message [ids]` (--json keeps the lines as
    written). The file rotates by size (CLEARCUT_OTEL_LOG_MAX_BYTES, CLEARCUT_OTEL_LOG_BACKUPS);
    what a service printed outside its log (a crash before logging started) is in
    <service>.out."""
    settings = CommonSettings()
    if service in COMPONENT_NAMES:
        (component, *_) = components(settings, [service])
        show_log(service, component.process.log_file, lines, follow)
        return
    if service not in SERVICE_NAMES:
        raise typer.BadParameter(
            f"unknown service {service!r}; choose from {', '.join(SERVICE_NAMES)} "
            f"or a component: {', '.join(COMPONENT_NAMES)}"
        )
    (target,) = services(settings, [service])
    show_log(service, target.log_file, lines, follow, raw=json_lines)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("up")(up)
    app.command("down")(down)
    app.command("logs")(logs)
