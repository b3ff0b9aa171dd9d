"""The processor's S3 client: short timeouts and no hidden retries (ours are explicit)."""

from __future__ import annotations

import urllib3
from minio import Minio

from services.common.s3 import minio_client
from services.common.settings import S3Settings


def s3_client(s3: S3Settings, *, connect_timeout: float = 3.0, read_timeout: float = 60.0) -> Minio:
    """A client that fails fast when the store is down, so that retries with backoff and
    jitter (bounded by the processor's settings) decide what happens next."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=32,
        retries=urllib3.Retry(total=0, connect=0, read=0, redirect=0, raise_on_status=False),
    )
    return minio_client(s3, http_client=http)
