"""The S3 client every service builds the same way, and bucket creation for `init`."""

from __future__ import annotations

import urllib3
from minio import Minio

from services.common.settings import S3Settings


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


def ensure_buckets(s3: S3Settings) -> dict[str, str]:
    """Create the project's buckets when missing; report ``created`` or ``exists`` each."""
    client = minio_client(s3)
    result: dict[str, str] = {}
    for bucket in s3.buckets:
        if client.bucket_exists(bucket):
            result[bucket] = "exists"
        else:
            client.make_bucket(bucket)
            result[bucket] = "created"
    return result
