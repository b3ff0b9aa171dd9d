"""Connection settings shared by every service and by the local stack.

Each service has its own settings model with its own env prefix (for example
``CLEARCUT_UPLOAD_``); what they all need to reach Kafka, MinIO, PostgreSQL and
Jaeger lives here once, under the ``CLEARCUT_`` prefix. Defaults are the local
development stack started by ``clearcut stack up``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The repository root when running from a checkout (services/common/settings.py -> ../../..).
REPO_ROOT = Path(__file__).resolve().parents[2]


class TopicNames(BaseSettings):
    """Kafka topic names; every name gets the optional ``CLEARCUT_TOPIC_PREFIX``."""

    model_config = SettingsConfigDict(env_prefix="CLEARCUT_TOPIC_", extra="ignore")

    prefix: str = Field("", description="Prepended to every topic name, e.g. `staging.`.")
    partitions: int = Field(3, ge=1, description="Partitions of each image topic.")
    retention_ms: int = Field(
        30 * 24 * 3600 * 1000,
        description="Retention of the image topics; long enough to replay and rebuild.",
    )
    dlq_retention_ms: int = Field(
        90 * 24 * 3600 * 1000, description="Retention of dead-letter topics."
    )

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def uploaded(self) -> str:
        return self.name("image.uploaded")

    @property
    def started(self) -> str:
        return self.name("image.processing.started")

    @property
    def completed(self) -> str:
        return self.name("image.processing.completed")

    @property
    def failed(self) -> str:
        return self.name("image.processing.failed")

    @property
    def downloaded(self) -> str:
        return self.name("image.downloaded")

    @property
    def deleted(self) -> str:
        return self.name("image.deleted")

    def dlq(self, topic: str) -> str:
        """The dead-letter topic of ``topic``."""
        return f"{topic}.dlq"

    @property
    def event_topics(self) -> list[str]:
        return [
            self.uploaded,
            self.started,
            self.completed,
            self.failed,
            self.downloaded,
            self.deleted,
        ]

    @property
    def all_topics(self) -> list[str]:
        return self.event_topics + [self.dlq(t) for t in self.event_topics]


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_KAFKA_", extra="ignore")

    host: str = Field("127.0.0.1", description="Broker listener address.")
    port: int = Field(9092, description="Broker listener port.")
    controller_port: int = Field(9093, description="KRaft controller port (local stack only).")
    brokers: int = Field(
        1,
        ge=1,
        le=9,
        description="Kafka nodes of the local stack (each a KRaft broker and controller); node "
        "N listens on `PORT + 2(N-1)` and `CONTROLLER_PORT + 2(N-1)`. With 3 or more, topics "
        "get replication factor 3 and `min.insync.replicas=2`; clients bootstrap from every node.",
    )
    bootstrap: str = Field(
        "",
        description="Comma-separated `host:port` list of an existing cluster's brokers; empty "
        "means the local stack's nodes from HOST, PORT and BROKERS.",
    )
    linger_ms: int = Field(1, ge=0, description="Producer linger: small, latency first.")
    compression: str = Field("lz4", description="Producer compression: none, gzip, lz4, zstd.")
    max_poll_interval_ms: int = Field(
        300_000,
        ge=1000,
        description="Longest a consumer may go without polling before the group drops it; "
        "consumers that wait on a dependency keep polling (paused) well inside it.",
    )

    def node_port(self, node: int) -> int:
        """Listener port of local node ``node`` (1-based)."""
        return self.port + 2 * (node - 1)

    def node_controller_port(self, node: int) -> int:
        return self.controller_port + 2 * (node - 1)

    @property
    def bootstrap_servers(self) -> str:
        """Every broker the clients may bootstrap from, comma-separated."""
        if self.bootstrap.strip():
            return ",".join(a.strip() for a in self.bootstrap.split(",") if a.strip())
        return ",".join(f"{self.host}:{self.node_port(n)}" for n in range(1, self.brokers + 1))

    @property
    def replication_factor(self) -> int:
        """Replicas of each topic: one per node, at most three."""
        return min(3, self.brokers)

    @property
    def min_insync_replicas(self) -> int:
        """Replicas that must have a record before acks=all is answered: 2 of 3, else 1."""
        return 2 if self.replication_factor >= 3 else 1


class S3Settings(BaseSettings):
    """MinIO (or any S3-compatible store)."""

    model_config = SettingsConfigDict(env_prefix="CLEARCUT_S3_", extra="ignore")

    host: str = Field("127.0.0.1", description="S3 endpoint host.")
    port: int = Field(9000, description="S3 API port.")
    console_port: int = Field(9001, description="MinIO console port (local stack only).")
    data_dir: Path | None = Field(
        None,
        description="MinIO's drive (local stack only); empty means `<CLEARCUT_HOME>/minio/data`.",
    )
    secure: bool = Field(False, description="Use HTTPS to reach the store.")
    access_key: str = Field("clearcut", description="Access key (MinIO root user locally).")
    secret_key: SecretStr = Field(
        SecretStr("clearcut-dev-secret"), description="Secret key; development default only."
    )
    region: str = Field("us-east-1", description="Region name used when signing requests.")
    bucket_originals: str = Field("clearcut-originals", description="Bucket for uploads.")
    bucket_results: str = Field("clearcut-results", description="Bucket for cut-outs and masks.")

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def buckets(self) -> list[str]:
        return [self.bucket_originals, self.bucket_results]


class RetentionSettings(BaseSettings):
    """How long images and idempotency keys are kept (see docs/operations.md)."""

    model_config = SettingsConfigDict(env_prefix="CLEARCUT_RETENTION_", extra="ignore")

    originals_hours: float = Field(
        24.0,
        gt=0,
        description="Originals are kept this long after their image's task finished; the "
        "originals bucket's lifecycle rule removes them after as many days, rounded up, "
        "from their upload.",
    )
    results_days: float = Field(
        30.0,
        gt=0,
        description="Results are kept this long after their task finished; then they read "
        "as `expired` and the results bucket's lifecycle rule removes them (days rounded up).",
    )
    idempotency_key_hours: float = Field(
        24.0, gt=0, description="An `Idempotency-Key` is honoured this long after its upload."
    )
    bucket_lifecycle: bool = Field(
        True,
        description="Set the buckets' lifecycle expiration rules when creating buckets "
        "(off for a store without lifecycle support).",
    )

    @property
    def originals_seconds(self) -> float:
        return self.originals_hours * 3600

    @property
    def results_seconds(self) -> float:
        return self.results_days * 86400


class PostgresSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_PG_", extra="ignore")

    host: str = Field("127.0.0.1", description="PostgreSQL host.")
    port: int = Field(5433, description="PostgreSQL port (not 5432, to avoid a system server).")
    database: str = Field("clearcut", description="Database name.")
    user: str = Field("clearcut", description="Role the services connect as.")
    password: SecretStr = Field(
        SecretStr("clearcut-dev"), description="Role password; development default only."
    )

    @property
    def dsn(self) -> str:
        pw = self.password.get_secret_value()
        return f"postgresql://{self.user}:{pw}@{self.host}:{self.port}/{self.database}"


class TelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_OTEL_", extra="ignore")

    enabled: bool = Field(True, description="Export traces over OTLP.")
    host: str = Field("127.0.0.1", description="Jaeger host.")
    otlp_grpc_port: int = Field(4317, description="OTLP gRPC receiver port.")
    otlp_http_port: int = Field(4318, description="OTLP HTTP receiver port.")
    query_port: int = Field(16686, description="Jaeger query HTTP API port.")
    query_grpc_port: int = Field(16685, description="Jaeger query gRPC API port.")
    health_port: int = Field(13133, description="Jaeger health-check port.")
    log_format: str = Field("json", description="Log format: json or text.")
    log_level: str = Field("INFO", description="Log level.")
    log_file: Path | None = Field(
        None,
        description="Write the log to this file, rotated by size, instead of standard error; "
        "`clearcut up` sets it to `.clearcut/logs/<service>.log`.",
    )
    log_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Size at which the log file is rotated."
    )
    log_backups: int = Field(
        3, ge=1, description="Rotated log files kept (`<file>.1` is the newest)."
    )
    log_repeat_window_seconds: float = Field(
        60.0,
        ge=0,
        description="The same warning or error again within this many seconds is counted, "
        "not written; the next one after it says how many were held back. 0 writes every one.",
    )

    @property
    def otlp_endpoint(self) -> str:
        return f"http://{self.host}:{self.otlp_grpc_port}"

    @property
    def query_url(self) -> str:
        return f"http://{self.host}:{self.query_port}"


class PrometheusSettings(BaseSettings):
    """Prometheus of the local stack, and what it scrapes."""

    model_config = SettingsConfigDict(env_prefix="CLEARCUT_PROMETHEUS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Prometheus host.")
    port: int = Field(9090, description="Prometheus HTTP API port.")
    scrape_interval_s: int = Field(15, ge=1, description="How often every target is scraped.")
    targets: str = Field(
        "upload=127.0.0.1:8080,notifier=127.0.0.1:8081,processor=127.0.0.1:8082,"
        "projector=127.0.0.1:8083,webhooks=127.0.0.1:8084",
        description="The services' /metrics as `service=host:port`, comma-separated.",
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def service_targets(self) -> dict[str, str]:
        pairs = (item.split("=", 1) for item in self.targets.split(",") if item.strip())
        return {name.strip(): address.strip() for name, address in pairs}


class PathSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_", extra="ignore")

    home: Path = Field(
        REPO_ROOT / ".clearcut",
        description="All local state: data directories, logs, pid files (git-ignored).",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "clearcut",
        description="Built tools, Kafka jars and downloads, shared by every checkout.",
    )
    model_cache: Path = Field(
        Path.home() / ".cache" / "clearcut" / "models",
        description="Verified model files.",
    )


class CommonSettings(BaseSettings):
    """Everything a service needs to reach the shared infrastructure."""

    model_config = SettingsConfigDict(env_prefix="CLEARCUT_", extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicNames = Field(default_factory=TopicNames)
    s3: S3Settings = Field(default_factory=S3Settings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
