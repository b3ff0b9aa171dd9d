"""Response bodies of the HTTP API, as they appear in the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.upload.domain.progress import ImageStatus, TaskStatus


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `corrupt_image`.")
    message: str = Field(description="What went wrong and what to do, for a person.")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Facts about the error, e.g. the current `status`."
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class Links(BaseModel):
    self: str = Field(description="This image's status.")
    result: str = Field(description="The cut-out, once completed.")
    mask: str = Field(description="The mask, once completed.")
    websocket: str = Field(description="Notifier websocket to subscribe to this image's events.")


class UploadAccepted(BaseModel):
    id: str = Field(description="The image id.")
    status: ImageStatus = Field(description="Always `queued` when accepted.")
    task_id: str = Field(description="The processing task requested for it.")
    links: Links


class ReprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="Model name from the processor's registry; absent or empty: the model the "
        "upload asked for (or the default).",
    )
    reason: str | None = Field(
        None,
        description="Why, for the image's task history (at most 1000 characters).",
        json_schema_extra={"maxLength": 1000},
    )


class ReprocessAccepted(BaseModel):
    id: str = Field(description="The image id.")
    status: ImageStatus = Field(description="`queued`: the new task waits for a processor.")
    task_id: str = Field(description="The new processing task.")
    replay_id: str = Field(description="Id of this request, recorded in the task.")
    model: str | None = Field(description="Requested model; null for the default model.")
    links: Links


class Options(BaseModel):
    output_format: str | None
    background: str | None
    model: str | None = Field(description="Requested model; null for the default model.")
    crop: bool | None = Field(None, description="Cut-out cropped to the subject's box.")
    crop_margin: str | None = Field(
        None, description="With `crop`: margin top, right, bottom, left (`Npx` or `N%`)."
    )
    channels: str | None = Field(None, description="`alpha`: the cut-out is the alpha alone.")
    size: str | None = Field(None, description="Size preset of the cut-out.")


class ForegroundView(BaseModel):
    top: int = Field(description="Rows above the subject's box.")
    left: int = Field(description="Columns left of the box.")
    width: int
    height: int


class ModelInfo(BaseModel):
    name: str
    version: str | None
    sha256: str | None


class TaskError(BaseModel):
    reason: str
    message: str | None
    retriable: bool | None


class TaskView(BaseModel):
    id: str
    status: TaskStatus
    attempt: int = Field(description="Latest attempt; 0 before a processor took the task.")
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    options: Options
    model: ModelInfo | None = Field(description="The model that ran, once known.")
    provider: str | None = Field(description="Execution provider: cpu, cuda or tensorrt.")
    duration_ms: float | None = Field(description="From upload to stored results.")
    timings: dict[str, float] | None = Field(description="Time per stage in milliseconds.")
    batch_size: int | None
    foreground: ForegroundView | None = Field(
        None,
        description="The subject's box in the mask (pixels at least half opaque, 128 of "
        "255), in pixels of the oriented original; null before completion, when the mask "
        "holds no subject, or from a processor that predates it.",
    )
    reprocessing: dict[str, Any] | None
    error: TaskError | None
    downloads: int


class ImageSummary(BaseModel):
    id: str
    owner: str
    status: ImageStatus
    content_type: str
    size_bytes: int
    width: int = Field(description="Width in pixels, EXIF orientation applied.")
    height: int = Field(description="Height in pixels, EXIF orientation applied.")
    sha256: str
    created_at: datetime = Field(description="When the upload was accepted.")
    updated_at: datetime = Field(description="Time of the latest event about the image.")
    created_by: str | None = Field(description="Who uploaded it (the owner).")
    updated_by: str | None = Field(
        description="Who acted last: the owner, an operator (reprocessing), or `processor`."
    )
    current_task: TaskView | None
    links: Links


class ImageView(ImageSummary):
    tasks: list[TaskView] = Field(description="Every processing task, oldest first.")


class ImagePage(BaseModel):
    items: list[ImageSummary] = Field(
        description="The caller's images, newest upload first (ties by id, descending); "
        "deleted images are left out."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null on the "
        "last page."
    )


class DeleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None,
        description="Why, kept with the deletion (at most 1000 characters).",
        json_schema_extra={"maxLength": 1000},
    )


class ImageDeletedView(BaseModel):
    id: str = Field(description="The image id.")
    status: str = Field(description="Always `deleted`.")
    deleted_at: datetime = Field(description="When it was (first) deleted.")


class UsageTotalsView(BaseModel):
    uploaded: int = Field(description="Images uploaded (deleted ones included).")
    processed: int = Field(description="Tasks completed.")
    failed: int = Field(description="Tasks whose latest attempt failed.")
    megapixels: float = Field(description="Width x height of the completed tasks' images, in MP.")
    result_bytes: int = Field(description="Bytes of results the completed tasks wrote.")


class DayUsageView(UsageTotalsView):
    day: date = Field(description="The UTC day.")


class UsageView(BaseModel):
    owner: str
    since: date = Field(description="First day counted (UTC).")
    until: date = Field(description="Day after the last one counted (UTC).")
    days: list[DayUsageView] = Field(description="Days with activity, oldest first.")
    total: UsageTotalsView


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class Size(BaseModel):
    width: int
    height: int


class ModelSummary(BaseModel):
    name: str = Field(description="The value of the `model` option of an upload.")
    version: str
    description: str
    input_size: Size = Field(description="The size the model sees the image at.")
    licence: str = Field(description="Licence of the model weights.")
    default: bool = Field(description="Used when an upload names no model.")


class ModelList(BaseModel):
    default: str = Field(description="The model used when an upload names none.")
    models: list[ModelSummary]


class PageConfig(BaseModel):
    development: bool = Field(description="A development key is configured on this server.")
    development_key: str | None = Field(
        description="The development API key, only in development mode."
    )
    websocket_url: str = Field(description="The notifier websocket the page follows images on.")
    max_body_bytes: int = Field(description="Largest accepted upload in bytes.")
    max_pixels: int = Field(description="Largest accepted width x height.")
    min_dimension: int = Field(description="Smallest accepted width and height.")


class ArchiveItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, description="An image id of yours.")
    name: str | None = Field(
        None, max_length=255, description="File name to use in the ZIP, e.g. the upload's."
    )


class ArchiveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[ArchiveItem] = Field(min_length=1, max_length=100)
    masks: bool = Field(False, description="Include each image's mask too.")


class RemoveBgError(BaseModel):
    title: str = Field(description="What kind of error, as remove.bg names it.")
    code: str = Field(description="Clearcut's stable error code.")
    detail: str = Field(description="What went wrong, for a person.")


class RemoveBgErrors(BaseModel):
    """remove.bg's error shape, answered under `/v1.0/`."""

    errors: list[RemoveBgError]
