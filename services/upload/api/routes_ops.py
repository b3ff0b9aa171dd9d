"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from services.common.health import health_body
from services.common.telemetry import render_metrics
from services.upload.api.dependencies import ServicesDep
from services.upload.api.models import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Kafka, the object store and PostgreSQL are reachable",
    responses={503: {"model": Health, "description": "A dependency is unreachable."}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    body, status = health_body(await services.readiness())
    return JSONResponse(Health.model_validate(body).model_dump(), status_code=status)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.registry
    body, content_type = render_metrics(registry)
    return Response(body, media_type=content_type)
