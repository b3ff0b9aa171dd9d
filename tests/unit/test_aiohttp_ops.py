"""Readiness of the aiohttp services: every probe runs, each within the timeout, and the
body names each one's reason; the routes answer over a real loopback server."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Counter

from services.common.aiohttp_ops import bound_port, ops_app, run_check


async def answers() -> None:
    return None


async def refuses() -> None:
    raise ConnectionError("connection refused")


async def refuses_silently() -> None:
    raise ConnectionError


async def hangs() -> None:
    await asyncio.sleep(30)


async def test_run_check_names_the_reason() -> None:
    assert await run_check(answers, 1) == "ok"
    assert await run_check(refuses, 1) == "ConnectionError: connection refused"
    assert await run_check(refuses_silently, 1) == "ConnectionError"
    assert await run_check(hangs, 0.05) == "no answer within 0.05 s"


async def test_routes_report_each_check_and_the_metrics() -> None:
    registry = CollectorRegistry()
    Counter("clearcut_example_total", "An example.", registry=registry).inc()
    app = ops_app({"kafka": answers, "postgres": hangs}, registry, readiness_timeout=0.05)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        alive = await client.get("/healthz")
        assert alive.status == 200 and await alive.json() == {"status": "ok", "checks": {}}
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert await ready.json() == {
            "status": "unavailable",
            "checks": {"kafka": "ok", "postgres": "no answer within 0.05 s"},
        }
        metrics = await client.get("/metrics")
        assert metrics.status == 200
        assert "clearcut_example_total 1.0" in await metrics.text()
        assert client.server.runner is not None
        assert bound_port(client.server.runner, 0) == client.port != 0


async def test_all_checks_answering_is_ready() -> None:
    app = ops_app({"kafka": answers}, CollectorRegistry(), readiness_timeout=1)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        ready = await client.get("/readyz")
        assert ready.status == 200
        assert await ready.json() == {"status": "ok", "checks": {"kafka": "ok"}}
