"""``python -m services.notifier``: the same as ``clearcut notifier``; ``--help`` shows help
instead of binding the port."""

import typer

from services.notifier.main import serve
from services.notifier.settings import NotifierSettings


def notifier(
    host: str | None = typer.Option(None, help="Bind address (default: CLEARCUT_NOTIFIER_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: CLEARCUT_NOTIFIER_PORT)."),
) -> None:
    """Serve websocket notifications on /v1/ws, with /healthz, /readyz and /metrics."""
    overrides = {"host": host, "port": port}
    serve(
        NotifierSettings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    )


typer.run(notifier)
