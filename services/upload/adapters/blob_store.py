"""The object store (MinIO or any S3-compatible store) through the `minio` client.

The client is synchronous, so every call runs in the service's bounded thread pool and the
event loop stays free. Driver errors become `Unavailable` (retriable) or `BlobNotFound`.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any, TypeVar

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from services.common.s3 import minio_client
from services.common.settings import S3Settings
from services.upload.adapters.errors import BlobNotFound, Unavailable
from services.upload.ports import BlobStream

logger = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK = 256 * 1024
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchObject"}


def create_minio(s3: S3Settings, max_connections: int) -> Minio:
    """A client with short connect timeouts and a few retries of 5xx answers."""
    http = urllib3.PoolManager(
        maxsize=max_connections,
        timeout=urllib3.Timeout(connect=2.0, read=30.0),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )
    return minio_client(s3, http_client=http)


class MinioBlobStore:
    def __init__(self, client: Minio, executor: Executor) -> None:
        self._client = client
        self._executor = executor

    async def _run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise BlobNotFound(f"{exc.bucket_name}/{exc.object_name}: {exc.code}") from None
            raise Unavailable("object store", f"{exc.code}: {exc.message}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            # 5xx answers, unparseable answers, connection trouble.
            raise Unavailable("object store", f"{type(exc).__name__}: {exc}") from exc

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: dict[str, str]
    ) -> None:
        await self._run(
            lambda: self._client.put_object(
                bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=dict[str, str | list[str] | tuple[str]](metadata),
            )
        )

    async def delete(self, bucket: str, key: str) -> None:
        await self._run(lambda: self._client.remove_object(bucket, key))

    async def open(self, bucket: str, key: str) -> BlobStream:
        response: Any = await self._run(lambda: self._client.get_object(bucket, key))

        def close() -> None:
            response.close()
            response.release_conn()

        return BlobStream(
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            size=int(response.headers.get("Content-Length", 0)),
            chunks=response.stream(CHUNK),
            close=close,
        )

    async def presigned_url(self, bucket: str, key: str, expiry_seconds: int) -> str:
        url: str = await self._run(
            lambda: self._client.presigned_get_object(
                bucket, key, expires=timedelta(seconds=expiry_seconds)
            )
        )
        return url

    async def keys(self, bucket: str, prefix: str, *, recursive: bool = True) -> list[str]:
        """Object keys under ``prefix`` (with ``recursive=False``, the next level's keys and
        "folders", the latter ending in `/`)."""

        def listing() -> list[str]:
            found = self._client.list_objects(bucket, prefix=prefix, recursive=recursive)
            return [obj.object_name for obj in found if obj.object_name]

        return await self._run(listing)

    async def stat(self, bucket: str, key: str) -> int:
        """The object's size; `BlobNotFound` when there is none."""
        found = await self._run(lambda: self._client.stat_object(bucket, key))
        return int(found.size or 0)

    async def read(self, bucket: str, key: str) -> bytes:
        def fetch() -> bytes:
            response = self._client.get_object(bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await self._run(fetch)

    async def ping(self, bucket: str) -> None:
        exists = await self._run(lambda: self._client.bucket_exists(bucket))
        if not exists:
            raise Unavailable("object store", f"bucket {bucket} does not exist")
