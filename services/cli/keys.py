"""``clearcut keys create | list | show | set | revoke | rotate``: API keys and their
settings (label, scopes, limits, expiry), stored in PostgreSQL beside the read model."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from services.common.auth import InvalidOwner, Scope, check_owner
from services.common.settings import CommonSettings
from services.upload.adapters.api_keys import KeyInfo, KeyNotFound, KeySettings, KeyStore

keys_app = typer.Typer(
    help="API keys of owners: create, list, change their scopes and limits, revoke, rotate.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err = Console(stderr=True)
T = TypeVar("T")
_DURATION = re.compile(r"^(?P<count>\d+)\s*(?P<unit>s|m|h|d|w)$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LIMITS = ("rate_per_minute", "max_concurrent", "monthly_megapixels")

Label = Annotated[str | None, typer.Option("--label", help="A name for people, e.g. `shop-prod`.")]
Scopes = Annotated[
    list[Scope] | None,
    typer.Option(
        "--scope",
        help="A scope the key holds (repeat for several): images:read, images:write, admin. "
        "Default for a new key: images:read and images:write.",
    ),
]
Rate = Annotated[
    int | None,
    typer.Option(
        "--rate",
        min=0,
        help="Units per minute (a request costs 1, an upload its megapixels rounded up); "
        "0 for no limit. Unset: the API's CLEARCUT_UPLOAD_KEY_DEFAULT_RATE_PER_MINUTE.",
    ),
]
Concurrent = Annotated[
    int | None,
    typer.Option(
        "--concurrent", min=0, help="Uploads in flight at once; 0 for no limit. Unset: default."
    ),
]
Monthly = Annotated[
    float | None,
    typer.Option(
        "--monthly-megapixels",
        min=0,
        help="Megapixels of uploads per calendar month (UTC); 0 for no quota. Unset: default.",
    ),
]
Expires = Annotated[
    str | None,
    typer.Option(
        "--expires",
        help="When the key stops working: ISO 8601 (`2027-01-01T00:00:00Z`) or a duration "
        "from now (`90d`, `12h`).",
    ),
]


def _run(work: Callable[[KeyStore], Awaitable[T]]) -> T:
    from services.upload.adapters.postgres import connect

    async def main() -> T:
        conn = await connect(CommonSettings().postgres)
        try:
            return await work(KeyStore(conn))
        finally:
            await conn.close()

    try:
        return asyncio.run(main())
    except KeyNotFound as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except OSError as exc:
        err.print(f"[bold red]error:[/] PostgreSQL cannot be reached: {exc}")
        raise typer.Exit(1) from None


def parse_expiry(text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    duration = _DURATION.match(text.strip())
    if duration is not None:
        return now + timedelta(**{_UNITS[duration["unit"].lower()]: int(duration["count"])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither an ISO 8601 time nor a duration such as 90d",
            param_hint="--expires",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _limit(value: float | None) -> str:
    if value is None:
        return "default"
    return "none" if value == 0 else f"{value:g}"


def _print(keys: list[KeyInfo]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("id", "owner", "label", "scopes", "rate/min", "concurrent", "MP/month"):
        table.add_column(column)
    table.add_column("expires")
    table.add_column("state")
    for k in keys:
        if k.active:
            until = "" if k.revoked_at is None else f" until {k.revoked_at:%Y-%m-%d %H:%M:%S}"
            state = f"active{until}"
        elif k.revoked_at is not None:
            state = "revoked" + (f" (replaced by {k.replaced_by})" if k.replaced_by else "")
        else:
            state = "expired"
        table.add_row(
            k.id,
            k.owner,
            k.label or "",
            " ".join(k.scopes),
            _limit(k.rate_per_minute),
            _limit(k.max_concurrent),
            _limit(k.monthly_megapixels),
            "" if k.expires_at is None else f"{k.expires_at:%Y-%m-%d %H:%M}",
            state,
        )
    console.print(table)


def _show(keys: list[KeyInfo], as_json: bool) -> None:
    if as_json:
        print(json.dumps([k.as_json() for k in keys], indent=2))
    else:
        _print(keys)


KeyId = Annotated[str, typer.Argument(help="The key's id (`key_...`, from `keys list`).")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


@keys_app.command("create")
def create(
    owner: Annotated[str, typer.Option("--owner", help="Owner the key acts for.")],
    label: Label = None,
    scope: Scopes = None,
    rate: Rate = None,
    concurrent: Concurrent = None,
    monthly_megapixels: Monthly = None,
    expires: Expires = None,
) -> None:
    """Create an API key for OWNER and print it. It is shown once: only its hash is stored."""
    try:
        check_owner(owner)
    except InvalidOwner as exc:
        raise typer.BadParameter(str(exc), param_hint="--owner") from None
    settings = KeySettings(
        label=label,
        scopes=tuple(scope) if scope else None,
        rate_per_minute=rate,
        max_concurrent=concurrent,
        monthly_megapixels=monthly_megapixels,
        expires_at=parse_expiry(expires, datetime.now(UTC)),
    )
    key, info = _run(lambda store: store.create(owner, settings))
    # The key alone on stdout, so that scripts can capture it; the note goes to stderr.
    print(key)
    err.print(
        f"API key {info.id} for {owner!r} created. Store it now: it is not shown again.",
        style="dim",
    )


@keys_app.command("list")
def list_(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's keys.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked keys.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The keys (never the keys themselves: their ids), with scopes, limits and state."""
    _show(_run(lambda store: store.list(owner, include_revoked=revoked)), as_json)


@keys_app.command("show")
def show(key_id: KeyId, as_json: JsonOption = False) -> None:
    """One key's settings and state."""
    _show([_run(lambda store: store.get(key_id))], as_json)


@keys_app.command("set")
def set_(
    key_id: KeyId,
    label: Label = None,
    scope: Scopes = None,
    rate: Rate = None,
    concurrent: Concurrent = None,
    monthly_megapixels: Monthly = None,
    expires: Expires = None,
    default: Annotated[
        list[str] | None,
        typer.Option(
            "--default",
            help="Set a limit back to the API's default: rate_per_minute, max_concurrent, "
            "monthly_megapixels (repeatable).",
        ),
    ] = None,
) -> None:
    """Change a key's label, scopes, limits or expiry; the API applies them to its next
    request (every replica: they are read from PostgreSQL on each request)."""
    unknown = [d for d in default or [] if d not in LIMITS]
    if unknown:
        raise typer.BadParameter(
            f"{unknown[0]!r} is not one of {', '.join(LIMITS)}", param_hint="--default"
        )
    settings = KeySettings(
        label=label,
        scopes=tuple(scope) if scope else None,
        rate_per_minute=rate,
        max_concurrent=concurrent,
        monthly_megapixels=monthly_megapixels,
        expires_at=parse_expiry(expires, datetime.now(UTC)),
        clear=tuple(default or ()),
    )
    _show([_run(lambda store: store.update(key_id, settings))], False)


@keys_app.command("revoke")
def revoke(key_id: KeyId) -> None:
    """Revoke a key at once: the API refuses it from its next request, and the notifier
    closes its open websockets (code 4401) within its key-check interval."""
    info = _run(lambda store: store.revoke(key_id))
    err.print(f"API key {info.id} of {info.owner!r} revoked.")


@keys_app.command("rotate")
def rotate(
    key_id: KeyId,
    grace: Annotated[
        str,
        typer.Option(
            "--grace",
            help="How long the old key keeps working (`0`, `10m`, `24h`), so clients can "
            "switch over.",
        ),
    ] = "0",
) -> None:
    """A new key with the same owner, label, scopes, limits and expiry; the old one is
    revoked after the grace period. Prints the new key once on stdout."""
    seconds = 0.0
    if grace.strip() != "0":
        until = parse_expiry(grace, datetime.now(UTC))
        assert until is not None
        seconds = (until - datetime.now(UTC)).total_seconds()
    key, info = _run(lambda store: store.rotate(key_id, seconds))
    print(key)
    err.print(
        f"API key {info.id} replaces {key_id} (revoked "
        f"{'now' if seconds <= 0 else f'in {grace}'}). Store it now: it is not shown again.",
        style="dim",
    )
