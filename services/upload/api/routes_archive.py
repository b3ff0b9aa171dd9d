"""`POST /v1/images/archive`: several results as one ZIP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from services.upload.api.dependencies import OwnerDep, ServicesDep
from services.upload.api.errors import error_responses
from services.upload.api.models import ArchiveRequest

router = APIRouter(prefix="/v1/images", tags=["images"])
_CHUNK = 256 * 1024


@router.post(
    "/archive",
    summary="Download the results of several images as one ZIP",
    description="Each listed image's cut-out (and, with `masks`, its mask) as one ZIP. "
    "Files are named after the given `name` (its extension dropped) or the image id, "
    "`<name>-cutout.png` and `<name>-mask.png`. Every image must be yours and completed; "
    "otherwise 404 or 409 `result_not_ready` names the first that is not. Each file counts "
    "as a download (ImageDownloaded).",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The ZIP.",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(400, 401, 404, 409, 422, 503),
    },
)
async def download_archive(
    body: ArchiveRequest, services: ServicesDep, owner: OwnerDep
) -> StreamingResponse:
    items = [(item.id, item.name) for item in body.images]
    spool, size = await services.archives.build(owner, items, body.masks)
    return StreamingResponse(
        _chunks(spool),
        media_type="application/zip",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": 'attachment; filename="clearcut-results.zip"',
        },
    )


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(_CHUNK):
            yield chunk
    finally:
        spool.close()
