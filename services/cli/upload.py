"""``clearcut upload``, ``clearcut projector``, ``clearcut db migrate``, ``clearcut keys``
(in ``keys.py``):
the upload service's entrypoints. Each builds its settings and telemetry at start, then hands
over to the service; nothing here holds logic of its own."""

from __future__ import annotations

import asyncio
import signal

import typer
from rich.console import Console

from services.cli.keys import keys_app
from services.common.auth import AuthSettings
from services.common.ports import require_free
from services.common.settings import CommonSettings
from services.upload.migrations.runner import migrate_and_seed
from services.upload.settings import UploadSettings

console = Console(soft_wrap=True)
db_app = typer.Typer(help="The PostgreSQL schema of the read model and API keys.")


def upload() -> None:
    """Serve the upload HTTP API (host and port from CLEARCUT_UPLOAD_HOST/_PORT)."""
    import uvicorn

    from services.common.telemetry import setup_telemetry
    from services.upload.api.app import create_app

    settings, common = UploadSettings(), CommonSettings()
    require_free("the upload API", settings.host, settings.port, "CLEARCUT_UPLOAD_PORT")
    telemetry = setup_telemetry("upload", common.telemetry)
    app = create_app(settings, common, telemetry=telemetry)
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,  # keep the structured logging set up by setup_telemetry
            access_log=False,
            server_header=False,
        )
    finally:
        telemetry.shutdown()


def projector() -> None:
    """Keep the PostgreSQL read model up to date from every image topic."""
    from prometheus_client import start_http_server

    from services.common.telemetry import setup_telemetry
    from services.upload.projector.runner import run_projector

    settings, common = UploadSettings(), CommonSettings()
    require_free(
        "the projector",
        settings.host,
        settings.projector_metrics_port,
        "CLEARCUT_UPLOAD_PROJECTOR_METRICS_PORT",
    )
    telemetry = setup_telemetry("projector", common.telemetry)
    if settings.projector_metrics_port:
        start_http_server(
            settings.projector_metrics_port, addr=settings.host, registry=telemetry.registry
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_projector(settings, common, stop, registry=telemetry.registry)

    try:
        asyncio.run(main())
    finally:
        telemetry.shutdown()


@db_app.command("migrate")
def migrate() -> None:
    """Apply the numbered SQL migrations that are missing (safe to run twice), then seed the
    development API key when CLEARCUT_DEV_KEY is set (it is `dev-key` unless set empty)."""
    common, auth = CommonSettings(), AuthSettings()
    try:
        applied, seeded = asyncio.run(migrate_and_seed(common.postgres, auth))
    except Exception as exc:
        console.print(f"[bold red]error:[/] migrating {common.postgres.host} failed: {exc}")
        raise typer.Exit(1) from exc
    if applied:
        for name in applied:
            console.print(f"  applied  {name}")
    else:
        console.print("  schema is up to date")
    if seeded:
        console.print(f"  seeded the development API key of owner {auth.dev_owner!r}")


def register(app: typer.Typer) -> None:
    """Add the upload service's commands to the root ``clearcut`` command."""
    app.command("upload")(upload)
    app.command("projector")(projector)
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")


if __name__ == "__main__":  # a standalone runner: python -m services.cli.upload ...
    standalone = typer.Typer(no_args_is_help=True)
    register(standalone)
    standalone()
