"""Settings of the websocket notifier; env prefix ``CLEARCUT_NOTIFIER_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_NOTIFIER_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the websocket server binds to.")
    port: int = Field(8081, description="Port of the websocket server.")
    backlog: int = Field(1024, ge=1, description="Listen backlog of the server socket.")
    upload_public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public base URL of the upload API; status and result links point there.",
    )
    heartbeat_seconds: float = Field(
        20.0,
        gt=0,
        description="Interval of websocket pings; a peer that does not answer with a pong "
        "within half of it is disconnected.",
    )
    auth_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send its `auth` message."
    )
    queue_size: int = Field(
        256,
        ge=1,
        description="Messages waiting for one client; a client whose queue is full is "
        "disconnected with close code 1013.",
    )
    send_buffer_bytes: int = Field(
        128 * 1024,
        ge=0,
        description="Kernel send buffer of each client socket (SO_SNDBUF); bounds the memory "
        "a stalled client holds and how far it falls behind before its queue fills. 0 lets "
        "the OS size it.",
    )
    close_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Time a closing client has to answer the close frame before its socket "
        "is aborted.",
    )
    max_message_bytes: int = Field(
        64 * 1024, ge=256, description="Largest client message; larger closes with 1009."
    )
    max_subscriptions: int = Field(
        1000, ge=1, description="Subscriptions per connection (`all` counts as one)."
    )
    max_connections_per_owner: int = Field(
        100, ge=1, description="Open connections per owner on one notifier process."
    )
    max_consecutive_errors: int = Field(
        20,
        ge=1,
        description="Invalid client messages in a row after which the connection is closed "
        "with 1008.",
    )
    snapshot_limit: int = Field(
        500, ge=1, description="Most images in the snapshot of an `all` subscription."
    )
    unknown_image_grace_seconds: float = Field(
        2.0,
        ge=0,
        description="How long a subscription waits for an image id the read model does not "
        "know yet (an upload not yet projected) before answering `unknown_image`.",
    )
    held_check_seconds: float = Field(
        2.0,
        gt=0,
        description="An event held this long (the projector has not announced it as applied) "
        "is looked up in the read model's applied events, and again every as long while held.",
    )
    max_held_events: int = Field(
        100_000,
        ge=1,
        description="Most consumed events held until the projector has applied them; beyond "
        "it the oldest is dropped (counted in `notifier_held_dropped_total`).",
    )
    recent_images: int = Field(
        10_000,
        ge=1,
        description="Images whose recent pushed events are kept in memory: the forward-only "
        "rule, and the events a snapshot read just before them must include.",
    )
    recent_seconds: float = Field(
        600.0, gt=0, description="How long recent pushed events of an image are kept in memory."
    )
    partition_refresh_seconds: float = Field(
        30.0, gt=0, description="How often the event topics are checked for new partitions."
    )
    key_check_seconds: float = Field(
        2.0,
        gt=0,
        description="How often the keys of open websockets are checked again; a revoked or "
        "expired key's connections are closed with 4401 within this time.",
    )
    pg_pool_max: int = Field(10, ge=1, description="Maximum PostgreSQL connections per process.")
    readiness_timeout_seconds: float = Field(
        2.0, gt=0, description="Time each dependency has to answer `/readyz`."
    )
    uvloop: bool = Field(True, description="Run on uvloop when it is installed.")
