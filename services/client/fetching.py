"""Download the results of earlier uploads by image id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.client.naming import render
from services.client.session import ClientError, error_text, save

FORMATS = {"image/png": "png", "image/webp": "webp"}


@dataclass
class Fetched:
    image_id: str
    status: str  # completed, failed, queued, processing, missing
    saved_to: Path | None = None
    message: str = ""

    @property
    def pending(self) -> bool:
        return self.status in ("queued", "processing")


@dataclass(frozen=True)
class FetchOptions:
    api_url: str
    key: str
    out_dir: Path
    kind: str = "cutout"
    name_pattern: str = "{id}.{kind}.{format}"
    overwrite: bool = False


async def fetch_results(image_ids: list[str], options: FetchOptions) -> list[Fetched]:
    headers = {"Authorization": f"Bearer {options.key}"}
    async with httpx.AsyncClient(base_url=options.api_url, headers=headers, timeout=60) as http:
        return [await _fetch_one(http, image_id, options) for image_id in image_ids]


async def _fetch_one(http: httpx.AsyncClient, image_id: str, options: FetchOptions) -> Fetched:
    status = await _get(http, f"/v1/images/{image_id}", options)
    if status.status_code == 404:
        return Fetched(
            image_id, "missing", message="no image of yours has this id (give the full id)"
        )
    if status.status_code != 200:
        return Fetched(image_id, "failed", message=error_text(status))
    image: dict[str, Any] = status.json()
    state = str(image.get("status"))
    if state == "failed":
        error = (image.get("current_task") or {}).get("error") or {}
        reason = f"{error.get('reason', 'failed')}: {error.get('message') or ''}".strip(": ")
        return Fetched(image_id, "failed", message=reason)
    if state != "completed":
        return Fetched(image_id, state, message=f"still {state}; fetch it again later")
    result = await _get(http, f"/v1/images/{image_id}/result?kind={options.kind}", options)
    if result.status_code != 200:
        return Fetched(image_id, "failed", message=f"download: {error_text(result)}")
    content_type = result.headers.get("content-type", "").split(";")[0].strip()
    fmt = FORMATS.get(content_type, "bin")
    target = options.out_dir / render(
        options.name_pattern, fmt=fmt, image_id=image_id, kind=options.kind
    )
    try:
        save(target, result.content, overwrite=options.overwrite)
    except FileExistsError:
        return Fetched(
            image_id, "failed", message=f"not saved: {target} exists (--overwrite replaces it)"
        )
    return Fetched(image_id, "completed", saved_to=target)


async def _get(http: httpx.AsyncClient, url: str, options: FetchOptions) -> httpx.Response:
    try:
        response = await http.get(url, follow_redirects=True)
    except httpx.TransportError as exc:
        raise ClientError(
            f"cannot reach the upload API at {options.api_url} ({exc}); "
            "is the pipeline running? (clearcut up)"
        ) from exc
    if response.status_code == 401:
        raise ClientError(f"the upload API refused the API key: {error_text(response)}")
    return response
