"""The web page at `/` (static files shipped in the package), what it needs to know about this
server (`/v1/page-config`), and the model catalogue (`/v1/models`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.upload.api.dependencies import ServicesDep
from services.upload.api.models import ModelList, ModelSummary, PageConfig, Size
from services.upload.api.page_security import PAGE_HEADERS, content_security_policy
from services.upload.settings import UploadSettings

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page(request: Request) -> FileResponse:
    headers = {
        **PAGE_HEADERS,
        "Content-Security-Policy": request.app.state.content_security_policy,
        "Cache-Control": "no-cache",
    }
    return FileResponse(PAGE_DIR / "index.html", media_type="text/html", headers=headers)


@router.get(
    "/v1/page-config",
    response_model=PageConfig,
    tags=["page"],
    summary="What the web page needs to know about this server",
    description="No API key needed. `development_key` is set only in development mode "
    "(a development key is configured), so that the page can offer it.",
)
async def page_config(request: Request) -> PageConfig:
    config: PageConfig = request.app.state.page_config
    return config


@router.get(
    "/v1/models",
    response_model=ModelList,
    tags=["models"],
    summary="The models an upload may ask for",
    description="The processor's model registry: each model's name (the `model` option of an "
    "upload), version, description, input size and licence, and which one is the default. "
    "No API key needed.",
)
async def list_models(services: ServicesDep) -> ModelList:
    catalogue = services.models
    return ModelList(
        default=catalogue.default,
        models=[
            ModelSummary(
                name=m.name,
                version=m.version,
                description=m.description,
                input_size=Size(width=m.input_size[0], height=m.input_size[1]),
                licence=m.licence,
                default=m.name == catalogue.default,
            )
            for m in catalogue.models
        ],
    )


def mount_page(app: FastAPI, settings: UploadSettings, development_key: str | None) -> None:
    """Serves the page and its assets, with a Content-Security-Policy that allows only this
    server and the notifier's websocket."""
    app.state.content_security_policy = content_security_policy(settings.websocket_url)
    app.state.page_config = PageConfig(
        development=bool(development_key),
        development_key=development_key or None,
        websocket_url=settings.websocket_url,
        max_body_bytes=settings.max_body_bytes,
        max_pixels=settings.max_pixels,
        min_dimension=settings.min_dimension,
    )
    app.include_router(router)
    app.mount("/assets", StaticFiles(directory=PAGE_DIR / "assets"), name="assets")
