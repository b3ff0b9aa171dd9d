"""One status report: probe the services and ask Prometheus, side by side."""

from __future__ import annotations

import asyncio
import time

from schemas import utc_now
from services.ops.status.figures import Sample, from_samples
from services.ops.status.sources import (
    PrometheusUnavailable,
    PrometheusView,
    ServiceHealth,
    from_prometheus,
    probe_services,
)
from services.ops.status.view import Report
from services.run.processes import ServiceSpec


class Collector:
    """Keeps the previous scrape of the services, so that without Prometheus a refreshed
    screen shows rates over the refresh interval rather than totals."""

    def __init__(self, specs: list[ServiceSpec], prometheus_url: str) -> None:
        self._specs = specs
        self._url = prometheus_url
        self._before: tuple[float, list[Sample]] | None = None

    async def report(self) -> Report:
        services, prometheus = await asyncio.gather(probe_services(self._specs), self._prometheus())
        now = time.monotonic()
        samples = _samples(services)
        if isinstance(prometheus, str):
            if self._before is None:
                figures = from_samples(samples)
            else:
                figures = from_samples(samples, self._before[1], now - self._before[0])
            self._before = (now, samples)
            return Report(utc_now(), services, figures, self._url, prometheus, {}, [])
        return Report(
            utc_now(),
            services,
            prometheus.figures,
            self._url,
            None,
            prometheus.scraped,
            prometheus.firing,
        )

    async def _prometheus(self) -> PrometheusView | str:
        """The view from Prometheus, or why there is none."""
        try:
            return await from_prometheus(self._url)
        except PrometheusUnavailable as exc:
            return str(exc)


def _samples(services: list[ServiceHealth]) -> list[Sample]:
    return [sample for health in services for sample in health.samples]
