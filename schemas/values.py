"""Value types shared by the event models: constrained strings, enums and nested objects.

Every constraint here ends up in the generated JSON Schemas, so it must be expressible
there: patterns, bounds and enums rather than Python-only validators.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

# Safe in object keys, Kafka keys and URL paths without escaping.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
EVENT_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# RFC 3339 with a mandatory offset; JSON Schema's `format` is not enforced by default.
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)]
EventId = Annotated[
    str,
    Field(
        min_length=36, max_length=36, pattern=EVENT_ID_PATTERN, json_schema_extra={"format": "uuid"}
    ),
]
Owner = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
]
Sha256 = Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
BucketName = Annotated[
    str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
]
ObjectKey = Annotated[str, Field(min_length=1, max_length=1024)]
ImageMediaType = Annotated[str, Field(max_length=127, pattern=r"^image/[a-z0-9][a-z0-9.+-]*$")]
Pixels = Annotated[int, Field(ge=1)]
Milliseconds = Annotated[float, Field(ge=0)]
Background = Annotated[str, Field(pattern=r"^(transparent|#[0-9a-f]{6})$")]
CallbackUrl = Annotated[
    str, Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s/?#@]+([/?]\S*)?$")
]
# Top, right, bottom, left, each in pixels or percent of the subject's box.
CropMargin = Annotated[
    str, Field(max_length=40, pattern=r"^[0-9]{1,3}(px|%)( [0-9]{1,3}(px|%)){3}$")
]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Normalised to UTC so that equal instants compare and serialise identically everywhere.
Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    Field(json_schema_extra={"pattern": TIMESTAMP_PATTERN}),
]


class Strict(BaseModel):
    """Base of every contract model: unknown fields are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputFormat(StrEnum):
    """Encoding of the cut-out."""

    PNG = "png"
    WEBP = "webp"


class Channels(StrEnum):
    """What the cut-out holds: colour and alpha, or the alpha alone as a greyscale image."""

    RGBA = "rgba"
    ALPHA = "alpha"


class SizePreset(StrEnum):
    """The cut-out's size: at most so many megapixels, keeping the aspect ratio (never larger
    than the original). `preview`, `small` and `regular` are about 0.25 MP, `medium` 1.5 MP,
    `hd` 4 MP; `auto`, `full` and `4k` keep the original's size."""

    AUTO = "auto"
    PREVIEW = "preview"
    SMALL = "small"
    REGULAR = "regular"
    MEDIUM = "medium"
    HD = "hd"
    FULL = "full"
    FOUR_K = "4k"

    @property
    def max_pixels(self) -> int | None:
        """The preset's pixel budget; ``None`` keeps the original's size."""
        return _PRESET_PIXELS.get(self)


_PRESET_PIXELS = {
    SizePreset.PREVIEW: 250_000,
    SizePreset.SMALL: 250_000,
    SizePreset.REGULAR: 250_000,
    SizePreset.MEDIUM: 1_500_000,
    SizePreset.HD: 4_000_000,
}


class ResultKind(StrEnum):
    """What a result object holds: the RGBA cut-out or the 8-bit alpha mask."""

    CUTOUT = "cutout"
    MASK = "mask"


class ExecutionProvider(StrEnum):
    """The device kind that ran the model (ONNX Runtime's provider, or PyTorch's device)."""

    CPU = "cpu"
    CUDA = "cuda"
    TENSORRT = "tensorrt"

    @classmethod
    def from_onnxruntime(cls, name: str) -> ExecutionProvider:
        """Map an ONNX Runtime provider name such as ``CUDAExecutionProvider``."""
        try:
            return _ORT_PROVIDERS[name]
        except KeyError:
            raise ValueError(f"no contract value for execution provider {name!r}") from None


class InferenceRuntime(StrEnum):
    """The library that ran the model: ONNX Runtime, or PyTorch running the same ONNX graph."""

    ONNXRUNTIME = "onnxruntime"
    TORCH = "torch"


_ORT_PROVIDERS = {
    "CPUExecutionProvider": ExecutionProvider.CPU,
    "CUDAExecutionProvider": ExecutionProvider.CUDA,
    "TensorrtExecutionProvider": ExecutionProvider.TENSORRT,
}


class FailureReason(StrEnum):
    """Stable machine-readable cause of a failed processing task."""

    IMAGE_MISSING = "image_missing"
    IMAGE_UNDECODABLE = "image_undecodable"
    IMAGE_UNSUPPORTED = "image_unsupported"
    MODEL_UNKNOWN = "model_unknown"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_ERROR = "model_error"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


class ModelRef(Strict):
    """The exact model that ran, as listed in the processor's model registry."""

    name: Identifier = Field(description="Registry name of the model, unique in the registry.")
    version: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="Version label of the model in the registry."
    )
    sha256: Sha256 = Field(description="SHA-256 of the model file, lowercase hex.")


class OriginalImage(Strict):
    """The uploaded original as stored in the object store."""

    bucket: BucketName = Field(description="Bucket holding the original.")
    key: ObjectKey = Field(description="Object key of the original.")
    size: Annotated[int, Field(ge=1)] = Field(description="Size of the stored object in bytes.")
    content_type: ImageMediaType = Field(
        description="Media type sniffed from the bytes, for example `image/jpeg`."
    )
    sha256: Sha256 = Field(description="SHA-256 of the stored bytes, lowercase hex.")
    width: Pixels = Field(description="Width in pixels after EXIF orientation is applied.")
    height: Pixels = Field(description="Height in pixels after EXIF orientation is applied.")


class ProcessingOptions(Strict):
    """What the client asked for."""

    output_format: OutputFormat = Field(description="Encoding of the cut-out.")
    background: Background = Field(
        description="`transparent`, or a flat background colour as lowercase `#rrggbb`."
    )
    model: Identifier | None = Field(
        None, description="Registry name of the model to use; null for the default model."
    )
    foreground_estimation: bool | None = Field(
        None,
        description="Whether the cut-out's semi-transparent edges get the subject's estimated "
        "own colour (true) or keep the photo's, background included (false); null for the "
        "processor's setting (on unless configured otherwise). Never changes the mask.",
    )

    crop: bool | None = Field(
        None,
        description="Crop the cut-out to the subject's foreground box (plus `crop_margin`); "
        "null or false keeps the whole image. Never changes the mask.",
    )
    crop_margin: CropMargin | None = Field(
        None,
        description="With `crop`: the margin kept around the box, top, right, bottom and "
        "left, each `Npx` or `N%` of the box's height (top, bottom) or width (left, right); "
        "null for none.",
    )
    channels: Channels | None = Field(
        None,
        description="`alpha`: the cut-out is the alpha alone, as a greyscale image; null or "
        "`rgba` for colour and alpha. Never changes the mask.",
    )
    size: SizePreset | None = Field(
        None,
        description="Scale the cut-out down to a preset's megapixels; null for the "
        "original's size. Never changes the mask.",
    )


class ForegroundBox(Strict):
    """The smallest rectangle holding every pixel of the subject: those whose mask value is
    at least half opaque (128 of 255), in pixels of the oriented original (the mask's)."""

    top: Annotated[int, Field(ge=0)] = Field(description="Rows above the box.")
    left: Annotated[int, Field(ge=0)] = Field(description="Columns left of the box.")
    width: Pixels = Field(description="Width of the box in pixels.")
    height: Pixels = Field(description="Height of the box in pixels.")


def crop_margin_pixels(margin: str | None, box: ForegroundBox) -> tuple[int, int, int, int]:
    """A `crop_margin` (`T R B L`, each `Npx` or `N%`) in pixels: a percentage of the box's
    height for top and bottom, of its width for left and right, rounded."""
    if not margin:
        return (0, 0, 0, 0)
    parts = margin.split()
    if len(parts) != 4:
        raise ValueError(f"crop margin {margin!r} does not have four values")
    sides = []
    for part, extent in zip(parts, (box.height, box.width, box.height, box.width), strict=True):
        if part.endswith("%"):
            sides.append(round(int(part[:-1]) * extent / 100))
        else:
            sides.append(int(part.removesuffix("px")))
    return sides[0], sides[1], sides[2], sides[3]


class Reprocessing(Strict):
    """Present when an upload is re-published to process an existing image again."""

    replay_id: Identifier = Field(
        description="Id of the replay run or reprocess request; re-sends of it are duplicates."
    )
    original_event_id: EventId = Field(
        description="`event_id` of the image's first ImageUploaded (never of an earlier replay)."
    )
    requested_by: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Who asked: an operator name, or the owner for an API request."
    )
    reason: Annotated[str, Field(max_length=1000)] | None = Field(
        None, description="Free-text reason given by the requester."
    )


class ResultObject(Strict):
    """One result written by the processor."""

    kind: ResultKind = Field(description="Cut-out or mask.")
    bucket: BucketName = Field(description="Bucket holding the result.")
    key: ObjectKey = Field(description="Object key of the result; stable per task and kind.")
    size: Annotated[int, Field(ge=1)] = Field(description="Size of the stored object in bytes.")
    content_type: ImageMediaType = Field(
        description="`image/png` or `image/webp` for the cut-out, `image/png` for the mask."
    )
    width: Pixels = Field(description="Width in pixels (that of the oriented original).")
    height: Pixels = Field(description="Height in pixels (that of the oriented original).")


def _exactly_one(kind: ResultKind) -> dict[str, Any]:
    return {
        "contains": {"properties": {"kind": {"const": kind.value}}, "required": ["kind"]},
        "minContains": 1,
        "maxContains": 1,
    }


# Fixed, not derived from ResultKind: a kind added later must stay optional, or events
# already on the topics would stop validating.
REQUIRED_RESULT_KINDS = (ResultKind.CUTOUT, ResultKind.MASK)

ResultObjects = Annotated[
    list[ResultObject],
    Field(
        min_length=len(REQUIRED_RESULT_KINDS),
        json_schema_extra={"allOf": [_exactly_one(kind) for kind in REQUIRED_RESULT_KINDS]},
    ),
]


class Timings(Strict):
    """Where the time went, in milliseconds; batch stages report the whole batch's time."""

    queue_wait_ms: Milliseconds = Field(
        description="From the upload's `occurred_at` until the processor started on it."
    )
    download_ms: Milliseconds = Field(description="Fetching the original from the store.")
    decode_ms: Milliseconds = Field(description="Decoding and orienting the original.")
    preprocess_ms: Milliseconds = Field(description="Resizing and normalising the input.")
    inference_ms: Milliseconds = Field(description="Running the model (0 when results are reused).")
    postprocess_ms: Milliseconds = Field(description="Resizing the mask and compositing.")
    encode_ms: Milliseconds = Field(description="Encoding the cut-out and the mask.")
    upload_ms: Milliseconds = Field(description="Writing the results to the store.")
    total_ms: Milliseconds = Field(
        description="From the upload's `occurred_at` until the results were stored."
    )
