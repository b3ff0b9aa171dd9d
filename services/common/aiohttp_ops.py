"""`/healthz`, `/readyz` and `/metrics` of the services served by aiohttp (notifier,
webhooks): readiness runs every named probe at once, each within the readiness timeout, and
reports each one's reason in the shape of `services.common.health`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry

from services.common.health import OK, health_body
from services.common.telemetry import render_metrics

Check = Callable[[], Awaitable[None]]
"""A readiness probe: returns when its component answers, raises (the reason) when not."""


def ops_app(
    checks: Mapping[str, Check], registry: CollectorRegistry, *, readiness_timeout: float
) -> web.Application:
    """An application serving the three routes; a service adds its own routes to it."""

    async def healthz(request: web.Request) -> web.Response:
        body, status = health_body()
        return web.json_response(body, status=status)

    async def readyz(request: web.Request) -> web.Response:
        results = await asyncio.gather(
            *(run_check(check, readiness_timeout) for check in checks.values())
        )
        body, status = health_body(dict(zip(checks, results, strict=True)))
        return web.json_response(body, status=status)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = render_metrics(registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def run_check(check: Check, within: float) -> str:
    """``"ok"``, or why not: the exception's type and message, or the timeout."""
    try:
        await asyncio.wait_for(check(), within)
    except TimeoutError:
        return f"no answer within {within:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with its reason
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return OK


def bound_port(runner: web.BaseRunner, configured: int) -> int:
    """The port the runner's site listens on (the one chosen when ``configured`` is 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured
