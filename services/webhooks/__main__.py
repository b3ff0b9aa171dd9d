"""``python -m services.webhooks``: the same as ``clearcut webhooks serve``; ``--help`` shows
help instead of binding the port."""

import typer

from services.webhooks.main import serve
from services.webhooks.settings import WebhooksSettings


def webhooks(
    host: str | None = typer.Option(None, help="Bind address (default: CLEARCUT_WEBHOOKS_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: CLEARCUT_WEBHOOKS_PORT)."),
) -> None:
    """POST completions and failures to owners' endpoints; /healthz, /readyz and /metrics."""
    overrides = {"host": host, "port": port}
    serve(
        WebhooksSettings().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    )


typer.run(webhooks)
