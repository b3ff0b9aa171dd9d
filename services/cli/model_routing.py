"""``clearcut models default | canary | status``: which model uploads that name none get,
changed while the workers run, and how the default and the canary compare."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.cli.instants import HELP as INSTANT_HELP
from services.cli.instants import InvalidInstant, parse_instant
from services.common.settings import CommonSettings
from services.processor.adapters.s3client import s3_client
from services.processor.domain.routing import ROUTING_KEY, InvalidRouting, ModelRouting
from services.processor.models.configured import configured_registry
from services.processor.models.registry import RegistryError
from services.processor.settings import ProcessorSettings

console = Console(soft_wrap=True)

# Per model and version: tasks finished since a time, failures, and the spread of the
# worker's time per task (from taking the task to its stored results: the total less the
# wait on the topic, from the timings of the read model).
_WORKER_MS = "((timings ->> 'total_ms')::float8 - (timings ->> 'queue_wait_ms')::float8)"
_STATS = f"""
SELECT model_name, model_version,
       count(*) AS tasks,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE reused_from_task_id IS NOT NULL) AS reused,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY {_WORKER_MS})
           FILTER (WHERE status = 'completed') AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY {_WORKER_MS})
           FILTER (WHERE status = 'completed') AS p95_ms
FROM processing_tasks
WHERE status IN ('completed', 'failed') AND finished_at >= $1 AND model_name IS NOT NULL
GROUP BY model_name, model_version
ORDER BY model_name, model_version
"""


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def read_routing(settings: ProcessorSettings, common: CommonSettings) -> ModelRouting:
    from minio.error import S3Error

    client = s3_client(common.s3)
    try:
        response = client.get_object(settings.state_bucket, ROUTING_KEY)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchBucket"):
            return ModelRouting()
        raise
    try:
        return ModelRouting.from_json(response.read())
    finally:
        response.close()
        response.release_conn()


def write_routing(
    settings: ProcessorSettings, common: CommonSettings, routing: ModelRouting
) -> None:
    data = routing.to_json()
    s3_client(common.s3).put_object(
        settings.state_bucket,
        ROUTING_KEY,
        io.BytesIO(data),
        len(data),
        content_type="application/json",
    )


def _known(settings: ProcessorSettings, name: str) -> None:
    try:
        configured_registry(settings).get(name)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc


def _change(**changes: Any) -> ModelRouting:
    settings, common = ProcessorSettings(), CommonSettings()
    try:
        current = read_routing(settings, common)
        routing = ModelRouting(**{**_fields(current), **changes})
        write_routing(settings, common, routing)
    except InvalidRouting as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        raise _fail(f"the object store cannot be reached: {exc}") from exc
    return routing


def _fields(routing: ModelRouting) -> dict[str, Any]:
    return {
        "default": routing.default,
        "canary": routing.canary,
        "canary_percent": routing.canary_percent,
    }


def _describe(routing: ModelRouting, registry_default: str) -> str:
    default = routing.default or f"{registry_default} (the registry's)"
    if routing.canary and routing.canary_percent > 0:
        return f"default {default}; canary {routing.canary} takes {routing.canary_percent:g} %"
    return f"default {default}; no canary"


def register(models_app: typer.Typer) -> None:
    models_app.command("default")(default)
    models_app.command("canary")(canary)
    models_app.command("status")(status)


def default(
    name: Annotated[
        str | None, typer.Argument(help="Registry name; omit with --registry to use the file's.")
    ] = None,
    registry: Annotated[
        bool, typer.Option("--registry", help="Go back to the registry file's default.")
    ] = False,
) -> None:
    """Make NAME the model of uploads that ask for none. Running workers apply it within
    CLEARCUT_PROCESSOR_ROUTING_REFRESH_SECONDS; no restart."""
    settings = ProcessorSettings()
    if (name is None) == (not registry):
        raise typer.BadParameter("give a model name, or --registry", param_hint="NAME")
    if name is not None:
        _known(settings, name)
    routing = _change(default=name)
    console.print(_describe(routing, configured_registry(settings).default), highlight=False)


def canary(
    name: Annotated[str | None, typer.Argument(help="Registry name of the new model.")] = None,
    percent: Annotated[
        float,
        typer.Option("--percent", min=0, max=100, help="Share of new uploads it takes, 0..100."),
    ] = 10.0,
    off: Annotated[bool, typer.Option("--off", help="Stop the canary.")] = False,
) -> None:
    """Send PERCENT of the uploads that ask for no model to NAME, chosen by image id (an
    image stays on its side); `--off` sends them all to the default again."""
    settings = ProcessorSettings()
    if off:
        routing = _change(canary=None, canary_percent=0.0)
    else:
        if name is None:
            raise typer.BadParameter("give the canary's model name, or --off", param_hint="NAME")
        _known(settings, name)
        routing = _change(canary=name, canary_percent=percent)
    console.print(_describe(routing, configured_registry(settings).default), highlight=False)


async def _stats(common: CommonSettings, since: datetime) -> list[dict[str, Any]]:
    from services.upload.adapters.postgres import connect

    conn = await connect(common.postgres)
    try:
        rows = await conn.fetch(_STATS, since)
    finally:
        await conn.close()
    return [
        {
            "model": row["model_name"],
            "version": row["model_version"],
            "tasks": row["tasks"],
            "failed": row["failed"],
            "failure_rate": row["failed"] / row["tasks"] if row["tasks"] else 0.0,
            "reused": row["reused"],
            "p50_ms": row["p50_ms"],
            "p95_ms": row["p95_ms"],
        }
        for row in rows
    ]


def status(
    since: Annotated[
        str, typer.Option("--since", help=f"Tasks finished since: {INSTANT_HELP}")
    ] = "1h",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """The routing in force, and per model and version the tasks finished since --since:
    how many, the failure rate and the worker's time per task (p50, p95), side by side."""
    settings, common = ProcessorSettings(), CommonSettings()
    try:
        moment = parse_instant(since, datetime.now(UTC))
    except InvalidInstant as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    try:
        routing = read_routing(settings, common)
        stats = asyncio.run(_stats(common, moment))
    except Exception as exc:
        raise _fail(f"cannot read the routing or the read model: {exc}") from exc
    registry_default = configured_registry(settings).default
    if as_json:
        body = {"routing": _fields(routing), "registry_default": registry_default, "models": stats}
        print(json.dumps(body, indent=2, default=str))
        return
    console.print(_describe(routing, registry_default), highlight=False)
    roles = {routing.default or registry_default: "default", routing.canary: "canary"}
    table = Table(
        show_edge=False,
        pad_edge=False,
        title=f"tasks finished since {moment:%Y-%m-%d %H:%M:%S} UTC",
    )
    for column in (
        "model",
        "version",
        "role",
        "tasks",
        "failed",
        "failure rate",
        "p50 ms",
        "p95 ms",
    ):
        table.add_column(column)
    for s in stats:
        table.add_row(
            s["model"],
            s["version"],
            roles.get(s["model"], ""),
            str(s["tasks"]),
            str(s["failed"]),
            f"{s['failure_rate']:.1%}",
            "" if s["p50_ms"] is None else f"{s['p50_ms']:.0f}",
            "" if s["p95_ms"] is None else f"{s['p95_ms']:.0f}",
        )
    console.print(table)
