"""Jaeger v2 all-in-one with in-memory storage, built from source with Go."""

from __future__ import annotations

import httpx

from services.devstack.component import Component
from services.devstack.gotools import JAEGER
from services.devstack.system import DEPLOY_DIR

CONFIG = DEPLOY_DIR / "jaeger" / "config.yaml"


class Jaeger(Component):
    name = "jaeger"

    @property
    def host(self) -> str:
        return self.settings.telemetry.host

    def ports(self) -> list[int]:
        t = self.settings.telemetry
        return [t.otlp_grpc_port, t.otlp_http_port, t.query_port, t.query_grpc_port, t.health_port]

    def address(self) -> str:
        t = self.settings.telemetry
        otlp = f"OTLP grpc {t.host}:{t.otlp_grpc_port} http {t.host}:{t.otlp_http_port}"
        return f"{otlp}, query {t.query_url}"

    @property
    def binary(self) -> str:
        return str(JAEGER.path(self.cache_dir))

    def version(self) -> str:
        # A source build reports no version of its own; the module tag is the pin.
        return f"Jaeger 2.13.0 (module {JAEGER.version})"

    def install(self) -> None:
        JAEGER.ensure(self.cache_dir, self.log_dir / "build-jaeger.log")

    def launch(self) -> None:
        t = self.settings.telemetry
        self.process.start(
            [self.binary, "--config", str(CONFIG)],
            env={
                "JAEGER_HEALTH_ENDPOINT": f"{t.host}:{t.health_port}",
                "JAEGER_QUERY_HTTP_ENDPOINT": f"{t.host}:{t.query_port}",
                "JAEGER_QUERY_GRPC_ENDPOINT": f"{t.host}:{t.query_grpc_port}",
                "JAEGER_OTLP_GRPC_ENDPOINT": f"{t.host}:{t.otlp_grpc_port}",
                "JAEGER_OTLP_HTTP_ENDPOINT": f"{t.host}:{t.otlp_http_port}",
            },
        )

    def healthy(self) -> bool:
        t = self.settings.telemetry
        health = httpx.get(f"http://{t.host}:{t.health_port}/status", timeout=2)
        query = httpx.get(f"{t.query_url}/api/services", timeout=2)
        return health.status_code == 200 and query.status_code == 200
