"""`/v1.0/removebg` and `/v1.0/account`: remove.bg's protocol, so that its client libraries
and plugins work with a changed base URL and key. Errors under `/v1.0/` are in remove.bg's
shape (`api/removebg_errors.py`)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from services.common.auth import Scope
from services.upload.adapters.errors import Unavailable
from services.upload.adapters.key_gate import Caller
from services.upload.adapters.usage import UsageQueries
from services.upload.api.admission import QuotaAdmission, upload_slot
from services.upload.api.body import FormShape, read_form, read_limited
from services.upload.api.dependencies import ServicesDep, admit_caller, require_scope
from services.upload.api.errors import error_response
from services.upload.api.models import RemoveBgErrors
from services.upload.composition import Services
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.foreground import foreground_headers
from services.upload.domain.removebg import (
    IMAGE_FIELDS,
    PARAMETERS,
    SIZES,
    AnswerFormat,
    parse_request,
)
from services.upload.domain.usage import totals, usage_range
from services.upload.removebg import RemoveBgAnswer
from services.upload.waiting import Busy

router = APIRouter(prefix="/v1.0", tags=["remove.bg"])
_TEXT_FIELDS = tuple(p for p in PARAMETERS if p != "image_file_b64")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": RemoveBgErrors, "description": description}
    for status, description in {
        400: "Invalid parameters or an image that cannot be processed.",
        403: "No valid API key.",
        503: "Too many synchronous requests waiting, or a dependency unavailable: retry "
        "after `Retry-After`. Nothing was kept.",
        504: "The pipeline did not finish within `REMOVEBG_TIMEOUT_SECONDS`; the image was "
        "deleted again.",
    }.items()
}


async def removebg_caller(
    request: Request,
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header(alias="X-Api-Key")] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Caller:
    """The caller behind the request's key, `X-Api-Key` or `Authorization: Bearer`, charged
    to its limits like any request (`admit_caller`)."""
    key = x_api_key
    if key is None and authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    try:
        return await admit_caller(request, services, key)
    except Rejected as refused:
        if refused.code is not ErrorCode.UNAUTHORIZED:
            raise
        raise Rejected(
            ErrorCode.UNAUTHORIZED,
            "a valid API key is required: send `X-Api-Key: <key>` "
            "(or `Authorization: Bearer <key>`)",
        ) from None


RemoveBgCaller = Annotated[Caller, Depends(removebg_caller)]


async def _request_fields(request: Request, max_bytes: int) -> tuple[dict[str, str], bytes | None]:
    """The text parameters and the `image_file` bytes, from a multipart form, a URL-encoded
    form or a JSON body."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    b64_limit = (max_bytes // 3 + 1) * 4 + 4096
    if media_type == "multipart/form-data":
        shape = FormShape({"image_file": max_bytes, "image_file_b64": b64_limit}, _TEXT_FIELDS)
        form = await read_form(request, shape, max_bytes)
        fields = dict(form.options)
        if "image_file_b64" in form.files:
            fields["image_file_b64"] = form.files["image_file_b64"].decode("ascii", "replace")
        return fields, form.files.get("image_file")
    body = await read_limited(request, b64_limit + 64 * 1024)
    if media_type == "application/json":
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            raise Rejected(ErrorCode.VALIDATION_ERROR, "the JSON body cannot be parsed") from None
        if not isinstance(parsed, dict):
            raise Rejected(ErrorCode.VALIDATION_ERROR, "the JSON body is not an object")
        return {k: _text(v) for k, v in parsed.items() if k in PARAMETERS}, None
    if media_type in ("application/x-www-form-urlencoded", ""):
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        return {k: v for k, v in pairs if k in PARAMETERS}, None
    raise Rejected(
        ErrorCode.UNSUPPORTED_CONTENT_TYPE,
        "send multipart/form-data, application/x-www-form-urlencoded or application/json",
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@router.post(
    "/removebg",
    summary="Remove the background, synchronously (remove.bg's protocol)",
    description="remove.bg's `POST /v1.0/removebg`: exactly one of `image_file` "
    "(multipart), `image_file_b64` (form field or JSON member) or `image_url` (when the "
    "server enables it); `size`, `format`, `bg_color`, `channels`, `crop`, `crop_margin`, "
    "`scale`, `position`, `roi`, `type` as remove.bg documents them. The image is uploaded "
    "as one of the key owner's images and the answer waits for the pipeline. The image "
    "bytes come back with `X-Width`, `X-Height`, `X-Type`, `X-Foreground-*` and "
    '`X-Credits-Charged`; with `Accept: application/json`, `{"data": {"result_b64", '
    '"foreground_top", ...}}`.',
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A multipart form with the image in `image_file`, as remove.bg's "
            "clients send it (the same fields also come URL-encoded or as a JSON object, with "
            "`image_file_b64` or `image_url` instead of `image_file`: exactly one of the "
            "three).",
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["image_file"],
                        "properties": {
                            "image_file": {"type": "string", "format": "binary"},
                            "size": {"type": "string", "enum": list(SIZES)},
                            "format": {"type": "string", "enum": [f.value for f in AnswerFormat]},
                            "channels": {"type": "string", "enum": ["rgba", "alpha"]},
                        },
                    },
                    "encoding": {"image_file": {"contentType": "image/png, image/jpeg"}},
                }
            },
        }
    },
    responses={
        200: {
            "description": "The result.",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **_ERRORS,
    },
)
async def remove_background(
    request: Request, services: ServicesDep, caller: RemoveBgCaller
) -> Response:
    counted = services.metrics.removebg
    try:
        owner = require_scope(caller, Scope.IMAGES_WRITE)
        async with upload_slot(services.gate, caller), services.bodies.place():
            response = await _remove(
                request, services, owner, QuotaAdmission(services.gate, caller, request)
            )
    except Rejected as exc:
        counted.labels(exc.code.value).inc()
        raise
    except Unavailable:
        counted.labels("unavailable").inc()
        raise
    counted.labels("completed" if response.status_code == 200 else "too_many_waiting").inc()
    return response


async def _remove(
    request: Request, services: Services, owner: str, admission: QuotaAdmission
) -> Response:
    settings = services.settings
    fields, image_file = await _request_fields(request, settings.max_body_bytes)
    given = [n for n in IMAGE_FIELDS if (image_file if n == "image_file" else fields.get(n))]
    if len(given) != 1:
        raise Rejected(
            ErrorCode.MISSING_FILE if not given else ErrorCode.INVALID_OPTION,
            "send exactly one of image_file, image_file_b64 or image_url"
            + ("" if not given else f"; got {', '.join(given)}"),
        )
    parsed = parse_request(fields)
    removebg = services.removebg
    if image_file is not None:
        image = image_file
    elif "image_file_b64" in given:
        image = removebg.decode_b64(fields["image_file_b64"])
    else:
        image = await removebg.fetch_url(fields["image_url"])
    try:
        answer = await removebg.remove(owner, image, parsed, admission)
    except Busy:
        return error_response(
            ErrorCode.TOO_MANY_WAITING,
            f"{services.removebg.max_waiting} synchronous requests are waiting already; "
            "retry shortly, or use POST /v1/images",
            headers={"Retry-After": str(settings.retry_after_seconds)},
        )
    return _answer(answer, request.headers.get("accept", ""))


def _answer(answer: RemoveBgAnswer, accept: str) -> Response:
    rendered, box = answer.rendered, answer.rendered.foreground
    headers = {
        "X-Width": str(rendered.width),
        "X-Height": str(rendered.height),
        "X-Type": answer.foreground_type,
        "X-Credits-Charged": f"{answer.credits:g}",
        "X-Image-Id": answer.image_id,
        **foreground_headers(box),
    }
    if "application/json" in accept.lower():
        data: dict[str, Any] = {"result_b64": base64.b64encode(rendered.data).decode("ascii")}
        for side in ("top", "left", "width", "height"):
            data[f"foreground_{side}"] = None if box is None else box[side]
        return JSONResponse({"data": data}, headers=headers)
    return Response(rendered.data, media_type=rendered.content_type, headers=headers)


@router.get(
    "/account",
    summary="Credits and free calls (remove.bg's protocol)",
    description="remove.bg's `GET /v1.0/account` from the owner's usage: Clearcut counts "
    "credits but bills none and sets no quota, so the balances are 0 and `sizes` is `all`; "
    "`usage` adds the last 30 days of `GET /v1/usage`.",
    responses={403: _ERRORS[403]},
)
async def account(services: ServicesDep, caller: RemoveBgCaller) -> JSONResponse:
    owner = require_scope(caller, Scope.IMAGES_READ)
    days = usage_range(None, None, datetime.now(UTC).date())
    total = totals(await UsageQueries(services.pool).by_day(owner, days))
    return JSONResponse(
        {
            "data": {
                "attributes": {
                    "credits": {"total": 0, "subscription": 0, "payg": 0, "enterprise": 0},
                    "api": {"free_calls": 0, "sizes": "all"},
                    "usage": {
                        "since": days.since.isoformat(),
                        "until": days.until.isoformat(),
                        "images_processed": total.processed,
                        "megapixels": total.megapixels,
                    },
                }
            }
        }
    )
