"""``clearcut webhooks``: the webhooks service (``serve``) and owners' endpoints and
callback secrets (``add``, ``list``, ``remove``, ``secret``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from services.common.auth import InvalidOwner, check_owner
from services.common.settings import CommonSettings
from services.webhooks.adapters.endpoints import Endpoint, EndpointRegistry
from services.webhooks.adapters.postgres import connect

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
app = typer.Typer(
    help="Webhooks: the service that POSTs completions and failures, and owners' endpoints.",
    no_args_is_help=True,
)
T = TypeVar("T")

OwnerArg = Annotated[str, typer.Argument(help="The owner (as in `clearcut keys create`).")]


def _owner(owner: str) -> str:
    try:
        return check_owner(owner)
    except InvalidOwner as exc:
        raise typer.BadParameter(str(exc), param_hint="OWNER") from None


def _with_registry(work: Callable[[EndpointRegistry], Awaitable[T]]) -> T:
    async def run() -> T:
        conn = await connect(CommonSettings().postgres)
        try:
            return await work(EndpointRegistry(conn))
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except Exception as exc:
        err.print(f"[bold red]error:[/] cannot reach the webhook tables: {exc}")
        raise typer.Exit(1) from exc


@app.command("serve")
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: CLEARCUT_WEBHOOKS_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: CLEARCUT_WEBHOOKS_PORT).")
    ] = None,
) -> None:
    """Run the webhooks service: consume the processing topics, POST every completion and
    failure to its owner's endpoints and callback URLs, with /healthz, /readyz and /metrics."""
    from services.webhooks.main import serve as run
    from services.webhooks.settings import WebhooksSettings

    overrides = {"host": host, "port": port}
    run(WebhooksSettings().model_copy(update={k: v for k, v in overrides.items() if v is not None}))


@app.command("add")
def add(
    owner: OwnerArg,
    url: Annotated[str, typer.Argument(help="The endpoint: an https:// URL.")],
    description: Annotated[
        str | None, typer.Option("--description", help="A note for you, shown by `list`.")
    ] = None,
) -> None:
    """Register URL to receive every completion and failure of OWNER, signed with a new
    secret. The secret is printed once, alone on stdout: store it now."""
    from services.webhooks.domain.targets import Refused, check_url
    from services.webhooks.settings import WebhooksSettings

    _owner(owner)
    try:
        check_url(url, WebhooksSettings().target_policy)
    except Refused as refused:
        raise typer.BadParameter(str(refused), param_hint="URL") from None

    async def work(registry: EndpointRegistry) -> tuple[Endpoint, str]:
        return await registry.add(owner, url, description)

    endpoint, secret = _with_registry(work)
    print(secret)
    err.print(
        f"endpoint {endpoint.id} of {owner!r} -> {url}. "
        "Its signing secret is above; it is not shown again.",
        style="dim",
    )


@app.command("list")
def list_endpoints(
    owner: Annotated[str | None, typer.Argument(help="Only this owner's endpoints.")] = None,
    removed: Annotated[bool, typer.Option("--removed", help="Include removed ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The registered endpoints (never their secrets)."""
    if owner is not None:
        _owner(owner)

    async def work(registry: EndpointRegistry) -> list[Endpoint]:
        return await registry.list(owner, removed=removed)

    endpoints = _with_registry(work)
    for e in endpoints:
        row = {
            "id": e.id,
            "owner": e.owner,
            "url": e.url,
            "description": e.description,
            "created_at": e.created_at.isoformat(),
            "removed_at": e.removed_at.isoformat() if e.removed_at else None,
        }
        if as_json:
            print(json.dumps(row))
        else:
            gone = f"  removed {row['removed_at']}" if row["removed_at"] else ""
            note = f"  ({row['description']})" if row["description"] else ""
            console.print(f"{row['id']}  {row['owner']}  {row['url']}{note}{gone}", highlight=False)
    if not endpoints and not as_json:
        err.print("no endpoints", style="dim")


@app.command("remove")
def remove(endpoint: Annotated[str, typer.Argument(help="The endpoint id (`we_...`).")]) -> None:
    """Stop sending to an endpoint; its deliveries still waiting are cancelled."""

    async def work(registry: EndpointRegistry) -> Endpoint | None:
        return await registry.remove(endpoint)

    if _with_registry(work) is None:
        err.print(f"[bold red]error:[/] no active endpoint {endpoint!r}")
        raise typer.Exit(1)
    console.print(f"removed {endpoint}")


@app.command("secret")
def secret(owner: OwnerArg) -> None:
    """Make (or replace) the secret that signs deliveries to OWNER's upload `callback_url`s,
    and print it once, alone on stdout. Without one, such deliveries are cancelled."""
    _owner(owner)

    async def work(registry: EndpointRegistry) -> str:
        return await registry.new_callback_secret(owner)

    print(_with_registry(work))
    err.print(f"callback signing secret of {owner!r}; it is not shown again.", style="dim")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="webhooks")


if __name__ == "__main__":
    app()
