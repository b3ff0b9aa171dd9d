"""The object store (MinIO or any S3-compatible store), asynchronously, with retries.

The MinIO client is synchronous; every call runs on a bounded thread pool. Driver errors
become ``StoreError``s: ``ObjectMissing`` (final) or ``StoreUnavailable`` (``retriable``).
Unavailable calls are retried with exponential backoff and jitter, bounded by the settings,
before the error reaches the caller.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from minio import Minio
from minio.commonconfig import ENABLED, CopySource, Filter
from minio.error import MinioException, S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from urllib3.exceptions import HTTPError as Urllib3Error

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject"})
# Codes that mean the request itself is wrong; retrying cannot help.
_FINAL_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName"}
)


class StoreError(Exception):
    retriable = False


class ObjectMissing(StoreError):
    """The object (or its bucket) does not exist."""


class StoreUnavailable(StoreError):
    """The store could not be reached or answered with a transient error."""

    retriable = True


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.2
    max_s: float = 5.0


class BlobStore(Protocol):
    """What the processor needs of an object store."""

    async def get(self, bucket: str, key: str) -> bytes: ...

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None: ...

    async def copy(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None: ...

    async def delete(self, bucket: str, key: str) -> None: ...


def translate(exc: Exception, what: str) -> StoreError:
    """Our error for a driver error raised while doing ``what``."""
    if isinstance(exc, S3Error):
        if exc.code in _MISSING_CODES:
            return ObjectMissing(f"{what}: {exc.code}")
        if exc.code in _FINAL_CODES:
            return StoreError(f"{what}: {exc.code}: {exc.message}")
        return StoreUnavailable(f"{what}: {exc.code}: {exc.message}")
    if isinstance(exc, MinioException | Urllib3Error | OSError):
        return StoreUnavailable(f"{what}: store unreachable ({type(exc).__name__}: {exc})")
    return StoreError(f"{what}: {type(exc).__name__}: {exc}")


class MemoryBlobStore:
    """A ``BlobStore`` that keeps every object in a dict: for measuring the processor's flow
    without an object store, and for tests of pure logic."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    async def get(self, bucket: str, key: str) -> bytes:
        try:
            return self.objects[bucket, key]
        except KeyError:
            raise ObjectMissing(f"{bucket}/{key}") from None

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.objects[bucket, key] = data

    async def copy(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        self.objects[bucket, key] = await self.get(source_bucket, source_key)

    async def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)


class MinioBlobStore:
    def __init__(self, client: Minio, executor: Executor, retry: RetryPolicy) -> None:
        self._client = client
        self._executor = executor
        self._retry = retry

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()

        def attempt() -> T:
            try:
                return fn()
            except (MinioException, Urllib3Error, OSError, ValueError) as exc:
                raise translate(exc, what) from exc

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: getattr(e, "retriable", False)),
            wait=wait_exponential_jitter(
                initial=1,
                multiplier=self._retry.initial_s,
                max=self._retry.max_s,
                jitter=self._retry.initial_s,
            ),
            stop=stop_after_attempt(self._retry.attempts),
            reraise=True,
            before_sleep=lambda state: logger.warning(
                "retrying %s after %s (try %d)",
                what,
                state.outcome.exception() if state.outcome else None,
                state.attempt_number,
            ),
        )
        async for trial in retrying:
            with trial:
                return await loop.run_in_executor(self._executor, attempt)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def get(self, bucket: str, key: str) -> bytes:
        def get() -> bytes:
            response = self._client.get_object(bucket, key)
            try:
                data: bytes = response.read()
                return data
            finally:
                response.close()
                response.release_conn()

        return await self._call(f"get s3://{bucket}/{key}", get)

    async def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        def put() -> None:
            self._client.put_object(
                bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )

        await self._call(f"put s3://{bucket}/{key}", put)

    async def copy(self, source_bucket: str, source_key: str, bucket: str, key: str) -> None:
        def copy() -> None:
            self._client.copy_object(bucket, key, CopySource(source_bucket, source_key))

        await self._call(f"copy s3://{source_bucket}/{source_key} to {bucket}/{key}", copy)

    async def delete(self, bucket: str, key: str) -> None:
        await self._call(
            f"delete s3://{bucket}/{key}", lambda: self._client.remove_object(bucket, key)
        )

    async def ensure_bucket(self, bucket: str) -> None:
        def ensure() -> None:
            if not self._client.bucket_exists(bucket):
                try:
                    self._client.make_bucket(bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        await self._call(f"ensure bucket {bucket}", ensure)

    async def expire(self, bucket: str, prefix: str, days: int) -> None:
        """Have the store delete objects under ``prefix`` after ``days`` (a lifecycle rule)."""
        rule = Rule(
            ENABLED,
            rule_filter=Filter(prefix=prefix),
            rule_id=f"expire-{prefix.strip('/').replace('/', '-') or 'all'}",
            expiration=Expiration(days=days),
        )
        await self._call(
            f"set lifecycle of {bucket}",
            lambda: self._client.set_bucket_lifecycle(bucket, LifecycleConfig([rule])),
        )

    async def reachable(self, bucket: str) -> bool:
        """One quick call without retries, for readiness probes."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, lambda: bool(self._client.bucket_exists(bucket))
            )
        except (MinioException, Urllib3Error, OSError, ValueError):
            return False
