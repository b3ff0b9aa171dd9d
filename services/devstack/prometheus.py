"""Prometheus with the project's rules, scraping every service and component, built from
source with Go (without the web UI's assets: the HTTP API is what the stack uses)."""

from __future__ import annotations

import json

import httpx

from services.common.settings import CommonSettings
from services.devstack.component import Component
from services.devstack.gotools import PROMETHEUS
from services.devstack.system import DEPLOY_DIR

RULES = DEPLOY_DIR / "prometheus" / "rules.yml"


def scrape_config(settings: CommonSettings, targets: dict[str, str] | None = None) -> str:
    """The configuration (JSON, which is YAML): one job per service, plus MinIO and Jaeger."""
    prom = settings.prometheus
    services = prom.service_targets() if targets is None else targets
    jobs = [
        {"job_name": f"clearcut-{name}", "static_configs": [{"targets": [address]}]}
        for name, address in services.items()
    ]
    jobs.append(
        {
            "job_name": "minio",
            "metrics_path": "/minio/v2/metrics/cluster",
            "static_configs": [{"targets": [f"{settings.s3.host}:{settings.s3.port}"]}],
        }
    )
    jobs.append(
        {"job_name": "prometheus", "static_configs": [{"targets": [f"{prom.host}:{prom.port}"]}]}
    )
    config = {
        "global": {
            "scrape_interval": f"{prom.scrape_interval_s}s",
            "evaluation_interval": f"{prom.scrape_interval_s}s",
        },
        "rule_files": [str(RULES)],
        "scrape_configs": jobs,
    }
    return json.dumps(config, indent=2) + "\n"


class Prometheus(Component):
    name = "prometheus"

    @property
    def host(self) -> str:
        return self.settings.prometheus.host

    def ports(self) -> list[int]:
        return [self.settings.prometheus.port]

    def address(self) -> str:
        return f"{self.settings.prometheus.url} (HTTP API; no web UI in a source build)"

    @property
    def binary(self) -> str:
        return str(PROMETHEUS.path(self.cache_dir))

    def version(self) -> str:
        return f"Prometheus (module {PROMETHEUS.version})"

    def install(self) -> None:
        PROMETHEUS.ensure(self.cache_dir, self.log_dir / "build-prometheus.log")

    def launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(scrape_config(self.settings))
        prom = self.settings.prometheus
        self.process.start(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir / 'data'}",
                "--storage.tsdb.retention.time=7d",
                f"--web.listen-address={prom.host}:{prom.port}",
                "--web.enable-lifecycle",
            ]
        )

    def healthy(self) -> bool:
        ready = httpx.get(f"{self.settings.prometheus.url}/-/ready", timeout=2)
        return ready.status_code == 200
