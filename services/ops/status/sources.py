"""Where the status screen's facts come from: each service's readiness probe and /metrics,
and Prometheus's HTTP API (the recording rules of deploy/prometheus/rules.yml)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.ops.status.figures import Figures, Sample
from services.run.processes import ServiceSpec

# Each figure is one recorded series (or a sum of one); empty result: no data yet.
RECORDED = {
    "accepted": "clearcut:uploads_accepted:rate5m",
    "completed": "clearcut:completions:rate5m",
    "failed": "sum(clearcut:failures:rate5m)",
    "failure_ratio": "clearcut:failure_ratio:rate5m",
    "task_p50": "clearcut:task_seconds:p50",
    "task_p95": "clearcut:task_seconds:p95",
    "task_p99": "clearcut:task_seconds:p99",
    "lag": "clearcut:processor_lag:sum",
    "connections": "clearcut:websocket_connections:sum",
    "dead_letters": "clearcut:dead_letters:increase10m",
}
FAILURES_BY_REASON = "clearcut:failures:rate5m"
UP = 'up{job=~"clearcut-.*"}'
FIRING = 'ALERTS{alertstate="firing",alertname=~"Clearcut.*"}'


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    url: str  # what was probed
    ready: bool
    detail: str  # "ready", or why not: "connection refused", "503: kafka unreachable"
    samples: tuple[Sample, ...] = ()  # its /metrics, when it answered


@dataclass(frozen=True)
class Scraped:
    """What Prometheus says of one job: targets up out of those it scrapes."""

    up: int
    targets: int


@dataclass(frozen=True)
class PrometheusView:
    figures: Figures
    scraped: dict[str, Scraped]  # job -> targets
    firing: list[str]  # the Clearcut alerts firing now, by name


def _why(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "down: connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "down: no answer in time"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "not an http(s) URL"
    return f"down: {type(exc).__name__}"


def _not_ready(response: httpx.Response) -> str:
    try:
        checks = response.json().get("checks", {})
    except ValueError:
        checks = {}
    failing = [f"{name} {why}" for name, why in checks.items() if why != "ok"]
    return f"not ready ({response.status_code}" + (f": {', '.join(failing)})" if failing else ")")


def parse_samples(text: str) -> tuple[Sample, ...]:
    return tuple(
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )


async def _probe(client: httpx.AsyncClient, spec: ServiceSpec) -> ServiceHealth:
    base = f"http://{spec.host}:{spec.port}"
    url = base + spec.ready_path
    if spec.port == 0:
        return ServiceHealth(spec.name, url, False, "no port configured")
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        return ServiceHealth(spec.name, url, False, _why(exc))
    samples: tuple[Sample, ...] = ()
    try:
        metrics = response if spec.ready_path == "/metrics" else await client.get(base + "/metrics")
        if metrics.status_code == 200:
            samples = parse_samples(metrics.text)
    except (httpx.HTTPError, ValueError):
        samples = ()
    if response.status_code != 200:
        return ServiceHealth(spec.name, url, False, _not_ready(response), samples)
    detail = "up (serves /metrics only)" if spec.ready_path == "/metrics" else "ready"
    return ServiceHealth(spec.name, url, True, detail, samples)


async def probe_services(specs: list[ServiceSpec], wait_s: float = 2.0) -> list[ServiceHealth]:
    """Every service's readiness (its /readyz; the projector's /metrics) and samples."""
    async with httpx.AsyncClient(timeout=wait_s) as client:
        return list(await asyncio.gather(*(_probe(client, spec) for spec in specs)))


class PrometheusUnavailable(Exception):
    pass


async def _query(client: httpx.AsyncClient, expr: str) -> list[tuple[dict[str, str], float]]:
    response = await client.get("/api/v1/query", params={"query": expr})
    try:
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise ValueError(body.get("error"))
        return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PrometheusUnavailable(
            f"HTTP {response.status_code} to a query: not Prometheus's API, or it refused {expr!r}"
        ) from exc


async def from_prometheus(url: str, wait_s: float = 3.0) -> PrometheusView:
    """The figures from the recording rules, and which clearcut-* targets are up."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=wait_s) as client:
            exprs = [*RECORDED.values(), FAILURES_BY_REASON, UP, FIRING]
            results = await asyncio.gather(*(_query(client, e) for e in exprs))
    except httpx.HTTPError as exc:
        raise PrometheusUnavailable(_why(exc)) from exc
    by_name = dict(zip([*RECORDED, "by_reason", "up", "firing"], results, strict=True))
    values = {
        name: (sum(v for _, v in by_name[name]) if by_name[name] else None) for name in RECORDED
    }
    if values["completed"] is not None:
        # Tasks are counted, none failed: the failed-outcome series does not exist yet.
        for name in ("failed", "failure_ratio"):
            values[name] = 0.0 if values[name] is None else values[name]
    scraped: dict[str, Scraped] = {}
    for labels, value in by_name["up"]:
        job = labels.get("job", "")
        seen = scraped.get(job, Scraped(0, 0))
        scraped[job] = Scraped(seen.up + (value == 1), seen.targets + 1)
    figures = Figures(
        window="last 5 min (Prometheus recording rules)",
        per_second=True,
        failures_by_reason={
            labels.get("reason", ""): value for labels, value in by_name["by_reason"] if value > 0
        },
        **values,
    )
    firing = sorted({labels.get("alertname", "") for labels, _ in by_name["firing"]})
    return PrometheusView(figures, scraped, firing)
