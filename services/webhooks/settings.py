"""Settings of the webhooks service; env prefix ``CLEARCUT_WEBHOOKS_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.webhooks.domain.backoff import RetryPolicy
from services.webhooks.domain.targets import TargetPolicy


class WebhooksSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_WEBHOOKS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address of /healthz, /readyz and /metrics.")
    port: int = Field(8084, description="Port of /healthz, /readyz and /metrics.")
    group: str = Field(
        "clearcut-webhooks", description="Kafka consumer group of the webhooks service."
    )
    upload_public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public base URL of the upload API; the links in a webhook point there.",
    )
    allow_private_targets: bool = Field(
        False,
        description="Development only: also send to loopback, private and link-local "
        "addresses. Off, such targets are refused (checked on every resolved address) and "
        "the refusal is recorded in the delivery log.",
    )
    allow_http: bool = Field(
        False, description="Development only: also send to plain `http://` URLs."
    )
    timeout_seconds: float = Field(
        10.0, gt=0, description="Longest one POST may take, connecting included."
    )
    retry_initial_seconds: float = Field(
        10.0, gt=0, description="Wait before the first retry of a failed delivery (then doubling)."
    )
    retry_max_interval_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts of a delivery."
    )
    retry_deadline_seconds: float = Field(
        86400.0,
        gt=0,
        description="A delivery not accepted this long after it was created is given up "
        "(`failed`).",
    )
    read_model_wait_seconds: float = Field(
        30.0,
        ge=0,
        description="A delivery's first attempt waits until the read model shows its outcome "
        "(so the links in it answer at once), at most this long after it was created; 0 "
        "sends at once.",
    )
    log_retention_days: float = Field(
        30.0,
        gt=0,
        description="Finished deliveries, their attempts and outcomes are removed from the "
        "delivery log this long after the outcome; so are callback URLs of uploads as old.",
    )
    concurrency: int = Field(16, ge=1, description="Deliveries sent at once per process.")
    poll_interval_seconds: float = Field(
        1.0, gt=0, description="How often due retries are looked for in PostgreSQL."
    )
    pg_pool_max: int = Field(10, ge=2, description="Maximum PostgreSQL connections per process.")
    readiness_timeout_seconds: float = Field(
        2.0, gt=0, description="Time each dependency has to answer `/readyz`."
    )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_seconds=self.retry_initial_seconds,
            max_interval_seconds=self.retry_max_interval_seconds,
            deadline_seconds=self.retry_deadline_seconds,
        )

    @property
    def target_policy(self) -> TargetPolicy:
        return TargetPolicy(allow_private=self.allow_private_targets, allow_http=self.allow_http)

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery is held by the process sending it; if it dies, the
        delivery is due again after this."""
        return self.timeout_seconds * 2 + 30
