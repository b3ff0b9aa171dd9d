"""Settings of the upload service (HTTP API and projector); env prefix ``CLEARCUT_UPLOAD_``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.model_catalogue import REGISTRY_FILE


class UploadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_UPLOAD_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    port: int = Field(8080, description="Port of the HTTP API.")
    max_body_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        description="Largest accepted image in bytes; larger bodies get 413, checked while "
        "streaming.",
    )
    max_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Largest accepted width x height, read from the header before decoding; "
        "more gets 413.",
    )
    min_dimension: int = Field(
        16, ge=1, description="Smallest accepted width and height in pixels; less gets 422."
    )
    websocket_url: str = Field(
        "ws://127.0.0.1:8081/v1/ws",
        description="Notifier websocket URL given to clients in the links of an image.",
    )
    result_delivery: Literal["stream", "redirect"] = Field(
        "stream",
        description="How results are served: `stream` the bytes, or `redirect` (307) to a "
        "presigned URL of the object store.",
    )
    presign_expiry_seconds: int = Field(
        300, ge=1, le=7 * 24 * 3600, description="Lifetime of a presigned result URL."
    )
    publish_timeout_seconds: float = Field(
        10.0, gt=0, description="How long an upload waits for Kafka to acknowledge its event."
    )
    retry_after_seconds: int = Field(
        5, ge=1, description="`Retry-After` sent with 503 when a dependency is unavailable."
    )
    pending_timeout_seconds: int = Field(
        600,
        ge=10,
        description="An upload still unpublished after this long is abandoned (its process "
        "died); the sweep removes its object.",
    )
    sweep_interval_seconds: float = Field(
        60.0, gt=0, description="How often the API sweeps abandoned uploads."
    )
    workers: int = Field(
        4, ge=1, description="Threads for image decoding and object-store calls per process."
    )
    pg_pool_min: int = Field(1, ge=0, description="Minimum PostgreSQL connections per process.")
    pg_pool_max: int = Field(10, ge=1, description="Maximum PostgreSQL connections per process.")
    readiness_timeout_seconds: float = Field(
        2.0, gt=0, description="Time each dependency has to answer `/readyz`."
    )
    model_registry_file: Path = Field(
        REGISTRY_FILE,
        description="The processor's model registry (TOML), read for `GET /v1/models` and to "
        "refuse an unknown `model`; point it at the same file as the processor's.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins of other sites (e.g. `https://app.example.com`) "
        "whose pages may call the API from a browser (CORS); empty allows none.",
    )
    removebg_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="How long `POST /v1.0/removebg` waits for the pipeline's result; after "
        "it the request gets 504 and the image is deleted again.",
    )
    removebg_max_waiting: int = Field(
        32,
        ge=1,
        description="Synchronous `POST /v1.0/removebg` requests that may wait at once per "
        "API process; more are refused at once with 503 and `Retry-After`.",
    )
    removebg_image_url: bool = Field(
        False,
        description="Whether `POST /v1.0/removebg` fetches `image_url` (off: 400 "
        "`image_url_disabled`). Fetches go only to public addresses, see the next setting.",
    )
    removebg_image_url_allow_private: bool = Field(
        False,
        description="Development only: let `image_url` reach private, loopback and "
        "link-local addresses (a server on this machine). Never on a shared service.",
    )
    removebg_image_url_timeout_seconds: float = Field(
        15.0, gt=0, description="Time an `image_url` fetch may take in all, redirects included."
    )
    projector_group: str = Field(
        "clearcut-projector", description="Kafka consumer group of the projector."
    )
    purge_delay_seconds: float = Field(
        10.0,
        ge=0,
        description="The purger removes a deleted image's objects this long after each of "
        "its events, so that a processor finishing a task meanwhile has written everything.",
    )
    purge_interval_seconds: float = Field(
        5.0, gt=0, description="How often the projector's purger looks for due purges."
    )
    content_index_bucket: str = Field(
        "clearcut-processor",
        description="The processor's state bucket (its `STATE_BUCKET`), whose index of "
        "results by content the purger cleans of a deleted image's entries.",
    )
    key_default_rate_per_minute: int = Field(
        6000,
        ge=0,
        description="Units per minute of a key without its own `rate_per_minute`: each "
        "request costs 1, an upload its megapixels rounded up; 0 for no limit.",
    )
    key_default_max_concurrent: int = Field(
        16,
        ge=0,
        description="Uploads in flight at once per key without its own `max_concurrent`; "
        "0 for no limit.",
    )
    key_default_monthly_megapixels: float = Field(
        0,
        ge=0,
        description="Megapixels of accepted uploads per key and calendar month (UTC) for a "
        "key without its own quota; 0 for no quota.",
    )
    upload_slot_lease_seconds: float = Field(
        300.0,
        gt=0,
        description="How long a concurrent-upload slot is held at most, so that the slots of "
        "a replica that died come free.",
    )
    max_buffered_bodies: int = Field(
        16,
        ge=1,
        description="Upload bodies one process receives and holds at once (each at most "
        "`MAX_BODY_BYTES`); further uploads wait for a place.",
    )
    body_wait_seconds: float = Field(
        10.0,
        ge=0,
        description="How long an upload waits for a place among the buffered bodies before "
        "it gets 503 `server_busy`.",
    )
    projector_metrics_port: int = Field(
        8083, ge=0, description="Port of the projector's Prometheus `/metrics`; 0 serves none."
    )

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]
