"""``clearcut notifier``: the websocket server that pushes image events to clients."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("notifier")(notifier)


def notifier(
    host: str | None = typer.Option(None, help="Bind address (default: CLEARCUT_NOTIFIER_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: CLEARCUT_NOTIFIER_PORT)."),
) -> None:
    """Serve websocket notifications on /v1/ws, with /healthz, /readyz and /metrics."""
    from services.notifier.main import serve
    from services.notifier.settings import NotifierSettings

    overrides = {"host": host, "port": port}
    settings = NotifierSettings().model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    serve(settings)
