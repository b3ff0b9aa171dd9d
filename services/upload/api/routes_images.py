"""`/v1/images`: upload an image, read its state, download its result."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from schemas import ResultKind, SizePreset
from services.upload.adapters.errors import Unavailable
from services.upload.api.admission import QuotaAdmission, upload_slot
from services.upload.api.body import OPTION_FIELDS, read_upload
from services.upload.api.contract import IDEMPOTENCY_KEY_SCHEMA
from services.upload.api.dependencies import CallerDep, OwnerDep, ServicesDep, WriterDep
from services.upload.api.errors import error_responses
from services.upload.api.models import (
    DeleteRequest,
    ImageDeletedView,
    ImagePage,
    ImageView,
    ReprocessAccepted,
    ReprocessRequest,
    UploadAccepted,
)
from services.upload.api.query_types import Time
from services.upload.api.views import image_view, links, page_view
from services.upload.domain.errors import ErrorCode, Rejected, shown
from services.upload.domain.foreground import foreground_headers
from services.upload.domain.listing import DEFAULT_LIMIT, MAX_LIMIT, page_request
from services.upload.domain.options import parse_callback_url, parse_options
from services.upload.domain.progress import ImageStatus

router = APIRouter(prefix="/v1/images", tags=["images"])
UPLOAD_PARAMETERS = OPTION_FIELDS

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_IMAGE_BYTES = {"schema": {"type": "string", "format": "binary", "minLength": 1}}
# The media types of images the server reads (it sniffs the bytes, whatever the type says).
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff")
# An option given empty means its default, as when it is absent.
OUTPUT_FORMATS = ["png", "webp", ""]
BACKGROUND_PATTERN = "^(|transparent|#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3})$"
LISTABLE_STATUSES = [s.value for s in ImageStatus if s is not ImageStatus.EXPIRED]
FOREGROUND_VALUES = ["true", "false", "1", "0", "yes", "no", "on", "off", ""]
# 1 to 4 sides, each at most 500 px (a bare number is pixels) or 50 %. An option given
# empty means its default, as when it is absent.
_MARGIN_SIDE = "(500|[1-4]?[0-9]{1,2})(px)?|(50|[1-4]?[0-9])%"
CROP_MARGIN_PATTERN = f"^(|({_MARGIN_SIDE})( ({_MARGIN_SIDE})){{0,3}})$"
# The callback URLs the document promises to take (the server takes a few more forms).
CALLBACK_URL_PATTERN = (
    r"^$|^https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$"
)
SHAPE_VALUES: dict[str, Any] = {
    "crop": {"enum": FOREGROUND_VALUES},
    "crop_margin": {"pattern": CROP_MARGIN_PATTERN},
    "channels": {"enum": ["rgba", "alpha", ""]},
    "size": {"enum": [*(s.value for s in SizePreset), ""]},
    "callback_url": {"pattern": CALLBACK_URL_PATTERN, "maxLength": 2048},
}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image: a raw body, or the `file` part of a multipart form. By "
        "its bytes a JPEG, PNG, WebP, GIF or TIFF image (`application/octet-stream` too must "
        "hold one), not empty, within the size and pixel limits, each side at least the "
        "minimum size (see the operation's description).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "minLength": 1},
                        "output_format": {"type": "string", "enum": OUTPUT_FORMATS},
                        "background": {"type": "string", "pattern": BACKGROUND_PATTERN},
                        "model": {"type": "string"},
                        "foreground_estimation": {"type": "string", "enum": FOREGROUND_VALUES},
                        **{
                            name: {"type": "string", **schema}
                            for name, schema in SHAPE_VALUES.items()
                        },
                    },
                },
                "encoding": {"file": {"contentType": ", ".join(IMAGE_TYPES)}},
            },
            **{media_type: _IMAGE_BYTES for media_type in IMAGE_TYPES},
            "application/octet-stream": _IMAGE_BYTES,
        },
    }
}

OutputFormatQuery = Annotated[
    str | None,
    Query(
        description="Cut-out encoding: `png` (default) or `webp`.",
        json_schema_extra={"enum": OUTPUT_FORMATS},
    ),
]
BackgroundQuery = Annotated[
    str | None,
    Query(
        description="`transparent` (default) or a colour `#rrggbb`/`#rgb`.",
        json_schema_extra={"pattern": BACKGROUND_PATTERN},
    ),
]
ModelQuery = Annotated[
    str | None,
    Query(
        description="Model name from `GET /v1/models`; default if absent. An unknown name "
        "gets 422 `invalid_option` naming the known ones."
    ),
]
ForegroundQuery = Annotated[
    str | None,
    Query(
        description="`true`: the cut-out's semi-transparent edges get the subject's estimated "
        "own colour, so no fringe of the old background remains; `false`: they keep the "
        "photo's colours. Absent: the processor's setting (on by default). The mask is the "
        "same either way. Also `1`/`0`, `yes`/`no`, `on`/`off`.",
        json_schema_extra={"enum": FOREGROUND_VALUES},
    ),
]
CallbackQuery = Annotated[
    str | None,
    Query(
        description="An `https://` URL that gets this upload's completion or failure as a "
        "signed webhook POST (besides your registered endpoints; see the README's Webhooks "
        "section). At most 2048 characters, no credentials or fragment; a private, loopback "
        "or link-local target is refused when the webhook is sent, recorded in "
        "`GET /v1/webhooks/deliveries`.",
        json_schema_extra=SHAPE_VALUES["callback_url"],
    ),
]
CropQuery = Annotated[
    str | None,
    Query(
        description="`true`: the cut-out is cropped to the subject's box (pixels of the mask "
        "at least half opaque) plus `crop_margin`; an image without a subject stays whole.",
        json_schema_extra=SHAPE_VALUES["crop"],
    ),
]
CropMarginQuery = Annotated[
    str | None,
    Query(
        description="With `crop=true`: 1 to 4 values like CSS (`30px`, `10%`, `10px 20px`, "
        "top right bottom left), each at most 500px or 50% (of the box's height for top and "
        "bottom, its width for left and right); beyond the photo the margin is transparent "
        "(or the background colour). Refused without `crop=true`.",
        json_schema_extra=SHAPE_VALUES["crop_margin"],
    ),
]
ChannelsQuery = Annotated[
    str | None,
    Query(
        description="`rgba` (default) or `alpha`: the cut-out is the alpha alone (greyscale).",
        json_schema_extra=SHAPE_VALUES["channels"],
    ),
]
SizeQuery = Annotated[
    str | None,
    Query(
        description="Scale the cut-out down to at most: `preview`, `small`, `regular` 0.25 "
        "megapixels, `medium` 1.5, `hd` 4; `auto`, `full`, `4k` (default) keep the original's "
        "size. The mask always has the original's size.",
        json_schema_extra=SHAPE_VALUES["size"],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes retries safe: the same key from the same owner returns the same "
        "image and publishes nothing new. 1-255 visible ASCII characters.",
        json_schema_extra=IDEMPOTENCY_KEY_SCHEMA,
    ),
]

ReprocessKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes retries safe: the same key with the same request from the same "
        "owner creates no second task. 1-255 visible ASCII characters.",
        json_schema_extra=IDEMPOTENCY_KEY_SCHEMA,
    ),
]


@router.post(
    "",
    status_code=202,
    response_model=UploadAccepted,
    summary="Upload an image to remove its background",
    openapi_extra=_UPLOAD_BODY,
    responses=error_responses(400, 401, 402, 409, 413, 415, 422, 503),
)
async def upload_image(
    request: Request,
    services: ServicesDep,
    owner: WriterDep,
    caller: CallerDep,
    output_format: OutputFormatQuery = None,
    background: BackgroundQuery = None,
    model: ModelQuery = None,
    foreground_estimation: ForegroundQuery = None,
    crop: CropQuery = None,
    crop_margin: CropMarginQuery = None,
    channels: ChannelsQuery = None,
    size: SizeQuery = None,
    callback_url: CallbackQuery = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = services.settings
    metrics = services.metrics
    try:
        _refuse_unknown_parameters(request)
        async with upload_slot(services.gate, caller), services.bodies.place():
            body = await read_upload(request, settings.max_body_bytes)
            form = body.form_options
            known = services.models.names
            if form:
                # A form field wins over the query parameter of the same name; both are checked.
                parse_options(
                    output_format,
                    background,
                    model,
                    foreground_estimation,
                    known,
                    channels=channels,
                    size=size,
                )
                parse_callback_url(callback_url)
            options = parse_options(
                form.get("output_format", output_format),
                form.get("background", background),
                form.get("model", model),
                form.get("foreground_estimation", foreground_estimation),
                known_models=known,
                crop=form.get("crop", crop),
                crop_margin=form.get("crop_margin", crop_margin),
                channels=form.get("channels", channels),
                size=form.get("size", size),
            )
            callback = parse_callback_url(form.get("callback_url", callback_url))
            admission = QuotaAdmission(services.gate, caller, request)
            accepted = await services.uploads.accept(
                owner, body.data, options, idempotency_key, callback, admission
            )
            del body
    except Rejected as exc:
        metrics.uploads.labels(exc.code.value).inc()
        raise
    except Unavailable:
        metrics.uploads.labels("unavailable").inc()
        raise
    event = accepted.event
    metrics.uploads.labels("replayed" if accepted.replayed else "accepted").inc()
    if not accepted.replayed:
        metrics.upload_bytes.observe(event.original.size)
    response = UploadAccepted(
        id=event.image_id,
        status=ImageStatus.QUEUED,
        task_id=event.task_id,
        links=links(event.image_id, settings.websocket_url),
    )
    headers = {"Location": response.links.self}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(response.model_dump(mode="json"), status_code=202, headers=headers)


@router.get(
    "",
    response_model=ImagePage,
    summary="List your images, newest first",
    description="The caller's images that are not deleted, newest upload first, a page at a "
    "time: pass the answer's `next_cursor` as `cursor`, with the same filters, for the next "
    "page. Each item is what `GET /v1/images/{id}` answers, without the task history. "
    "Uploads accepted while you page through come before your cursor and never shift or "
    "repeat later pages. An image is listed once the projector has applied its upload "
    "(normally within milliseconds of the 202).",
    responses=error_responses(400, 401, 422, 503),
)
async def list_images(
    services: ServicesDep,
    owner: OwnerDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Images per page, 1..{MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
    status: Annotated[
        ImageStatus | None,
        Query(
            description="Only images with this status (`expired` is decided when an image is "
            "read, so it cannot be listed).",
            json_schema_extra={"enum": LISTABLE_STATUSES},
        ),
    ] = None,
    since: Annotated[
        Time | None,
        Query(description="Only images uploaded at or after this time (RFC 3339 with offset)."),
    ] = None,
    until: Annotated[
        Time | None,
        Query(description="Only images uploaded before this time (RFC 3339 with offset)."),
    ] = None,
) -> ImagePage:
    request = page_request(limit, status, since, until, cursor)
    page = await services.images.page(owner, request)
    return page_view(page, services.settings.websocket_url)


@router.get(
    "/{image_id}",
    response_model=ImageView,
    summary="An image's status, tasks and timings",
    responses=error_responses(401, 404, 410, 503),
)
async def get_image(image_id: str, services: ServicesDep, owner: OwnerDep) -> ImageView:
    record = await services.images.find(owner, image_id)
    return image_view(record, services.settings.websocket_url)


@router.get(
    "/{image_id}/result",
    summary="Download the cut-out or the mask",
    response_class=Response,
    responses={
        200: {
            "description": "The result's bytes. `X-Foreground-Top`, `-Left`, `-Width` and "
            "`-Height` give the subject's box in this file's pixels (after the cut-out's crop "
            "and size preset), when the processor found one.",
            "content": {"image/png": _BINARY, "image/webp": _BINARY},
        },
        307: {"description": "Redirect to a short-lived presigned URL of the object store."},
        **error_responses(401, 404, 409, 410, 422, 503),
    },
)
async def get_result(
    image_id: str,
    services: ServicesDep,
    owner: OwnerDep,
    kind: Annotated[ResultKind, Query(description="`cutout` (default) or `mask`.")] = (
        ResultKind.CUTOUT
    ),
) -> Response:
    ref = await services.images.result(owner, image_id, kind)
    settings = services.settings
    if settings.result_delivery == "redirect":
        url = await services.blobs.presigned_url(
            ref.bucket, ref.key, settings.presign_expiry_seconds
        )
        await services.images.record_download(owner, image_id, ref)
        return RedirectResponse(url, status_code=307, headers=foreground_headers(ref.foreground))
    stream = await services.blobs.open(ref.bucket, ref.key)
    try:
        await services.images.record_download(owner, image_id, ref)
    except BaseException:
        stream.close()
        raise
    extension = "png" if ref.content_type == "image/png" else "webp"
    return StreamingResponse(
        _closing(stream.chunks, stream.close),
        media_type=ref.content_type,
        headers={
            "Content-Length": str(stream.size),
            "Content-Disposition": f'inline; filename="{image_id}-{kind.value}.{extension}"',
            **foreground_headers(ref.foreground),
        },
    )


@router.post(
    "/{image_id}/reprocess",
    status_code=202,
    response_model=ReprocessAccepted,
    summary="Process an image again, with another model if wished",
    description="Requests a new processing task for one of your images. The new task "
    "becomes the image's current one (its result is what `/result` serves once completed); "
    "earlier tasks stay in `tasks`. Subscribers of the image are notified as for an upload. "
    "With `Idempotency-Key`, a retry of the same request creates no second task.",
    responses=error_responses(400, 401, 404, 409, 410, 422, 503),
)
async def reprocess_image(
    image_id: str,
    services: ServicesDep,
    owner: WriterDep,
    body: Annotated[ReprocessRequest | None, Body()] = None,
    idempotency_key: ReprocessKey = None,
) -> JSONResponse:
    wanted = body or ReprocessRequest()
    outcome = await services.reprocess.request(
        owner,
        image_id,
        model=wanted.model,
        reason=wanted.reason,
        idempotency_key=idempotency_key,
    )
    event = outcome.event
    assert event.reprocessing is not None
    response = ReprocessAccepted(
        id=event.image_id,
        status=ImageStatus.QUEUED,
        task_id=event.task_id,
        replay_id=event.reprocessing.replay_id,
        model=event.options.model,
        links=links(event.image_id, services.settings.websocket_url),
    )
    headers = {"Location": response.links.self}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(response.model_dump(mode="json"), status_code=202, headers=headers)


def _refuse_unknown_parameters(request: Request) -> None:
    """A misspelt option must not be silently dropped (``?format=webp`` giving a PNG)."""
    unknown = sorted(set(request.query_params) - set(UPLOAD_PARAMETERS))
    if unknown:
        names = ", ".join(shown(name) for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise Rejected(
            ErrorCode.UNKNOWN_PARAMETER,
            f"unknown query parameter {names}{more}; an upload accepts "
            f"{', '.join(UPLOAD_PARAMETERS)}",
            parameters=", ".join(name[:40] for name in unknown[:20]),
        )


@router.delete(
    "/{image_id}",
    status_code=202,
    response_model=ImageDeletedView,
    summary="Delete an image, its results and its original",
    description="Deletes one of your images: from now on it answers 410 `image_deleted`, "
    "the list leaves it out, and reprocessing or replaying it is refused. Its original, its "
    "results and its content-index entries are removed from the object store shortly after "
    "(202: the removal runs in the background), also results of a task still running, "
    "which are removed when they arrive. Deleting an image again answers the same. "
    'Optional JSON body `{"reason": "..."}`.',
    responses=error_responses(400, 401, 404, 422, 503),
)
async def delete_image(
    image_id: str,
    services: ServicesDep,
    owner: WriterDep,
    body: Annotated[DeleteRequest | None, Body()] = None,
) -> ImageDeletedView:
    deleted = await services.deletions.delete(
        owner, image_id, reason=None if body is None else body.reason
    )
    return ImageDeletedView(id=deleted.image_id, status="deleted", deleted_at=deleted.deleted_at)


def _closing(chunks: Iterator[bytes], close: Callable[[], None]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        close()
