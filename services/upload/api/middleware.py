"""ASGI middleware: request metrics, and the trace id handed back to the client."""

from __future__ import annotations

import time

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.upload.domain.limits import RateState

RATE_STATE = "rate_limit"  # set by the API-key dependency in the request state

TRACE_ID_HEADER = "x-trace-id"


class TraceHeaders:
    """Adds `X-Trace-Id` and a W3C `traceparent` of the request's server span to every
    response, so a client can find its request in Jaeger."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctx = trace.get_current_span().get_span_context()
                if ctx.is_valid:
                    trace_id = format(ctx.trace_id, "032x")
                    span_id = format(ctx.span_id, "016x")
                    flags = format(int(ctx.trace_flags), "02x")
                    headers = list(message.get("headers", []))
                    headers.append((TRACE_ID_HEADER.encode(), trace_id.encode()))
                    headers.append((b"traceparent", f"00-{trace_id}-{span_id}-{flags}".encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_trace)


class RateLimitHeaders:
    """Adds `X-RateLimit-Limit`, `-Remaining` and `-Reset` to every response of a request
    whose key was looked up (the dependency leaves its `RateState` in the request state),
    errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_rate(message: Message) -> None:
            if message["type"] == "http.response.start":
                rate = scope.get("state", {}).get(RATE_STATE)
                if isinstance(rate, RateState):
                    headers = list(message.get("headers", []))
                    headers.extend(
                        (name.lower().encode(), value.encode())
                        for name, value in rate.headers().items()
                    )
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_rate)


class HttpMetrics:
    """Request count and latency per route template and status; created once per app (the
    middleware stack may be rebuilt, the metrics must not be registered twice)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "clearcut_http_requests",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "clearcut_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response starts), by route.",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )


class RequestMetrics:
    """Observes every HTTP request into `HttpMetrics`."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.requests = metrics.requests
        self.latency = metrics.latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", "unmatched")
                method = scope.get("method", "")
                self.requests.labels(method, template, str(message["status"])).inc()
                self.latency.labels(method, template).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, observe)
