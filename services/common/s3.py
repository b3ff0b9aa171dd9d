"""The S3 client every service builds the same way, and bucket creation for `init`."""

from __future__ import annotations

import math

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from services.common.settings import RetentionSettings, S3Settings


def minio_client(s3: S3Settings, http_client: urllib3.PoolManager | None = None) -> Minio:
    """A client for MinIO or any S3-compatible store; connects lazily, on first request.
    Services pass their own connection pool to choose timeouts and retries."""
    return Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        secure=s3.secure,
        region=s3.region,
        http_client=http_client,
    )


def lifecycle_days(s3: S3Settings, retention: RetentionSettings) -> dict[str, int]:
    """Expiration in whole days (S3 lifecycle rules count days from an object's creation)
    per bucket: originals after the originals' retention, results after the results'."""
    return {
        s3.bucket_originals: max(1, math.ceil(retention.originals_hours / 24)),
        s3.bucket_results: max(1, math.ceil(retention.results_days)),
    }


def lifecycle_rules(days: int) -> LifecycleConfig:
    return LifecycleConfig(
        [
            Rule(
                ENABLED,
                rule_filter=Filter(prefix=""),
                rule_id="clearcut-retention",
                expiration=Expiration(days=days),
            )
        ]
    )


def ensure_buckets(s3: S3Settings, retention: RetentionSettings | None = None) -> dict[str, str]:
    """Create the project's buckets when missing and (unless `bucket_lifecycle` is off) set
    their expiration rules; report ``created`` or ``exists`` each."""
    retention = retention or RetentionSettings()
    client = minio_client(s3)
    result: dict[str, str] = {}
    days = lifecycle_days(s3, retention)
    for bucket in s3.buckets:
        if client.bucket_exists(bucket):
            result[bucket] = "exists"
        else:
            client.make_bucket(bucket)
            result[bucket] = "created"
        if retention.bucket_lifecycle and bucket in days:
            client.set_bucket_lifecycle(bucket, lifecycle_rules(days[bucket]))
    return result
