"""The upload API's application factory: routes, error handlers, middleware, and the
lifespan that builds (and closes) the services from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from services.common.auth import AuthSettings
from services.common.model_catalogue import load_catalogue
from services.common.settings import CommonSettings
from services.common.telemetry import Telemetry
from services.upload.api import (
    routes_archive,
    routes_images,
    routes_ops,
    routes_removebg,
    routes_usage,
    routes_webhooks,
)
from services.upload.api.contract import complete_document
from services.upload.api.docs_page import install_docs
from services.upload.api.errors import install_error_handlers, use_error_body_for_validation
from services.upload.api.middleware import (
    HttpMetrics,
    RateLimitHeaders,
    RequestMetrics,
    TraceHeaders,
)
from services.upload.api.removebg_errors import RemoveBgErrors
from services.upload.api.routes_page import mount_page
from services.upload.composition import build_services
from services.upload.metrics import UploadMetrics
from services.upload.settings import UploadSettings

DESCRIPTION = """Upload photos, follow their processing, download the cut-out or the mask.

A web page for people is served at `/`. Every request under `/v1/images`, `/v1/usage` and
`/v1/webhooks` needs
`Authorization: Bearer <API key>`; `/v1/models` and `/v1/page-config` need none. Errors are JSON:
`{"error": {"code": "...", "message": "...", "details": {...}}}` with a stable `code`.

`POST /v1.0/removebg` and `GET /v1.0/account` speak remove.bg's protocol (key in
`X-Api-Key`, errors as `{"errors": [{"title", "code", "detail"}]}`)."""


def create_app(
    settings: UploadSettings,
    common: CommonSettings,
    *,
    telemetry: Telemetry | None = None,
    registry: CollectorRegistry | None = None,
    sweep: bool = True,
    auth: AuthSettings | None = None,
) -> FastAPI:
    registry = registry or (telemetry.registry if telemetry else CollectorRegistry())
    metrics = UploadMetrics.create(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with build_services(settings, common, metrics, sweep=sweep) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="Clearcut upload API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from local files
        redoc_url=None,
    )
    app.state.registry = registry
    app.include_router(routes_archive.router)
    app.include_router(routes_images.router)
    app.include_router(routes_usage.router)
    app.include_router(routes_webhooks.router)
    app.include_router(routes_removebg.router)
    app.include_router(routes_ops.router)
    dev_key = (auth or AuthSettings()).dev_key.get_secret_value()
    mount_page(app, settings, dev_key or None)
    install_docs(app)
    install_error_handlers(app, settings.retry_after_seconds)
    generate = app.openapi
    model_names = load_catalogue(settings.model_registry_file).names

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = use_error_body_for_validation(generate())
            app.openapi_schema = complete_document(document, model_names, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=[
                "Retry-After",
                "Location",
                "Idempotent-Replayed",
                "X-Trace-Id",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
            max_age=600,
        )
    app.add_middleware(RemoveBgErrors)
    app.add_middleware(TraceHeaders)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(RequestMetrics, metrics=HttpMetrics(registry))
    if telemetry is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=telemetry.tracer_provider,
            excluded_urls="healthz,readyz,metrics",
        )
    return app
