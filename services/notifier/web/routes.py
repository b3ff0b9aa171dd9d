"""The aiohttp application: the websocket endpoint plus health, readiness and metrics."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry

from services.common.aiohttp_ops import Check, ops_app
from services.notifier.web.endpoint import WebsocketEndpoint

WEBSOCKET_PATH = "/v1/ws"


def create_web_app(
    endpoint: WebsocketEndpoint,
    checks: Mapping[str, Check],
    registry: CollectorRegistry,
    *,
    readiness_timeout: float,
) -> web.Application:
    async def close_connections(app: web.Application) -> None:
        await endpoint.close_all()

    app = ops_app(checks, registry, readiness_timeout=readiness_timeout)
    app.router.add_get(WEBSOCKET_PATH, endpoint.handle)
    app.on_shutdown.append(close_connections)
    return app
