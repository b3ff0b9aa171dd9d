"""Every error as JSON `{"error": {"code", "message", "details"}}` with a fitting status."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from services.upload.adapters.errors import BlobNotFound, Unavailable
from services.upload.api.models import ErrorBody
from services.upload.domain.errors import ErrorCode, Rejected

logger = logging.getLogger(__name__)

STATUS = {
    ErrorCode.EMPTY_BODY: 400,
    ErrorCode.MALFORMED_MULTIPART: 400,
    ErrorCode.MISSING_FILE: 400,
    ErrorCode.INVALID_IDEMPOTENCY_KEY: 400,
    ErrorCode.UNKNOWN_PARAMETER: 400,
    ErrorCode.INVALID_CURSOR: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.QUOTA_EXCEEDED: 402,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_CONCURRENT_UPLOADS: 429,
    ErrorCode.SERVER_BUSY: 503,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.RESULT_NOT_READY: 409,
    ErrorCode.ORIGINAL_UNAVAILABLE: 409,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ErrorCode.IMAGE_DELETED: 410,
    ErrorCode.RESULT_EXPIRED: 410,
    ErrorCode.ORIGINAL_EXPIRED: 409,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.TOO_MANY_PIXELS: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.UNSUPPORTED_CONTENT_TYPE: 415,
    ErrorCode.CORRUPT_IMAGE: 422,
    ErrorCode.IMAGE_TOO_SMALL: 422,
    ErrorCode.INVALID_OPTION: 422,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.IMAGE_URL_DISABLED: 400,
    ErrorCode.IMAGE_URL_REFUSED: 400,
    ErrorCode.IMAGE_URL_FAILED: 400,
    ErrorCode.PROCESSING_FAILED: 400,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.TOO_MANY_WAITING: 503,
    ErrorCode.PROCESSING_TIMEOUT: 504,
}

_DESCRIPTIONS = {
    400: "Empty body, malformed multipart, missing `file` part, a bad Idempotency-Key, or "
    "an unknown query parameter (`unknown_parameter`), (listing) a cursor this API did not "
    "return, or a JSON body that cannot be parsed (`validation_error`).",
    401: "Missing, unknown, revoked or expired API key.",
    402: "`quota_exceeded`: the upload would take the key over its monthly megapixels "
    "(`details.quota_megapixels`, `details.used_megapixels`).",
    403: "`forbidden`: the key lacks the scope the route needs (`details.scope`).",
    429: "`rate_limited`: the key's units for this minute are spent; "
    "`too_many_concurrent_uploads`: the key has its maximum of uploads in flight. Retry "
    "after `Retry-After` seconds.",
    404: "No such image among the caller's images.",
    409: "Not ready yet (the body's `details.status` says where it is), the same "
    "Idempotency-Key is in flight, or (reprocess) the original upload is not on record or "
    "its retention has passed (`original_expired`).",
    410: "`image_deleted`: the image was deleted (`details.deleted_at`); its original and "
    "results are gone. `result_expired`: the result's retention has passed "
    "(`details.expired_at`).",
    413: "Body larger than the byte limit, or more pixels than the pixel limit.",
    415: "Not a supported image by its bytes, or an unsupported request content type.",
    422: "Corrupt or truncated image, too small, an invalid option or parameter.",
    503: "A dependency (Kafka, object store, PostgreSQL) is unavailable, or (`server_busy`) "
    "too many uploads are being received at once; retry after `Retry-After` seconds. "
    "Nothing was stored.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses; a route that takes a key
    (401) can also answer 403 (scope) and 429 (rate)."""
    if 401 in statuses:
        statuses = tuple(sorted({*statuses, 403, 429}))
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def use_error_body_for_validation(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents its own `HTTPValidationError` for every 422 it could raise; this API
    answers those with `ErrorBody` (see `invalid_request` below), so the document says so."""
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if path.startswith("/v1.0/"):
                # remove.bg's protocol answers 400 for what is 422 elsewhere.
                operation.get("responses", {}).pop("422", None)
                continue
            response = operation.get("responses", {}).get("422")
            if response is None:
                continue
            response["content"] = {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
            }
            if response.get("description") == "Validation Error":
                response["description"] = _DESCRIPTIONS[422]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def error_response(
    code: ErrorCode,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code.value, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=STATUS[code], headers=headers)


def install_error_handlers(app: FastAPI, retry_after_seconds: int) -> None:
    async def rejected(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Rejected)
        headers: dict[str, str] = {}
        if exc.code is ErrorCode.UNAUTHORIZED:
            headers["WWW-Authenticate"] = "Bearer"
        if "retry_after_seconds" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after_seconds"])
        return error_response(exc.code, exc.message, _jsonable(exc.details), headers or None)

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Unavailable)
        logger.warning("answering 503: %s", exc)
        return error_response(
            ErrorCode.SERVICE_UNAVAILABLE,
            f"{exc.dependency} is unavailable; nothing was stored, retry later",
            {"dependency": exc.dependency},
            headers={"Retry-After": str(retry_after_seconds)},
        )

    async def missing_blob(_: Request, exc: Exception) -> JSONResponse:
        logger.error("an object listed in the read model is missing: %s", exc)
        return error_response(ErrorCode.NOT_FOUND, "the stored result is missing")

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return error_response(
            ErrorCode.VALIDATION_ERROR,
            "invalid request: " + "; ".join(problems),
            {"errors": problems},
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorCode.VALIDATION_ERROR
        )
        response = error_response(code, str(exc.detail))
        response.status_code = exc.status_code
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    async def internal(_: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error", exc_info=exc)
        return error_response(ErrorCode.INTERNAL_ERROR, "internal error; it has been logged")

    app.add_exception_handler(Rejected, rejected)
    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(BlobNotFound, missing_blob)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document declares for the request's path, its most specific
    path first (`/v1/images/archive` before `/v1/images/{image_id}`, as OpenAPI matches
    them); for a path outside the document, every method a route serves there. Starlette's
    own 405 names only the methods of the first route that matched (`GET` where `DELETE`
    is served too)."""
    path: str = request.scope["path"]
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    for template in sorted(paths, key=lambda t: t.count("{")):
        if _template(template).fullmatch(path):
            declared = {method.upper() for method in paths[template]}
            return [method for method in _METHODS if method in declared]
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | None) else str(v)
        for k, v in details.items()
    }
