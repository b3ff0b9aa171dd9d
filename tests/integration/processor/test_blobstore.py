"""The object store adapter and the processor's own state against the real MinIO."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from schemas.values import ResultKind, ResultObject
from services.common.settings import CommonSettings, S3Settings
from services.processor.adapters.blobstore import (
    MinioBlobStore,
    ObjectMissing,
    RetryPolicy,
    StoreUnavailable,
)
from services.processor.adapters.s3client import s3_client
from services.processor.adapters.state import ProcessorState
from services.processor.domain.task import StoredResults
from services.processor.settings import ProcessorSettings
from tests.integration.processor.harness import free_port


@pytest.fixture(scope="module")
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4)
    yield pool
    pool.shutdown()


@pytest.fixture
def store(stack: CommonSettings, executor: ThreadPoolExecutor) -> MinioBlobStore:
    return MinioBlobStore(s3_client(stack.s3), executor, RetryPolicy(3, 0.05, 0.2))


async def test_put_get_copy_delete_round_trip(
    stack: CommonSettings, store: MinioBlobStore, unique: str
) -> None:
    bucket = stack.s3.bucket_results
    await store.put(bucket, f"tests/{unique}/a", b"payload", "application/octet-stream")
    assert await store.get(bucket, f"tests/{unique}/a") == b"payload"
    await store.copy(bucket, f"tests/{unique}/a", bucket, f"tests/{unique}/b")
    assert await store.get(bucket, f"tests/{unique}/b") == b"payload"
    await store.put(bucket, f"tests/{unique}/a", b"overwritten", "application/octet-stream")
    assert await store.get(bucket, f"tests/{unique}/a") == b"overwritten"
    await store.delete(bucket, f"tests/{unique}/a")
    with pytest.raises(ObjectMissing):
        await store.get(bucket, f"tests/{unique}/a")
    with pytest.raises(ObjectMissing):
        await store.copy(bucket, f"tests/{unique}/a", bucket, f"tests/{unique}/c")
    with pytest.raises(ObjectMissing):
        await store.get(f"no-such-bucket-{unique}", "x")


async def test_an_unreachable_store_is_retried_then_reported_retriable(
    executor: ThreadPoolExecutor,
) -> None:
    dead = S3Settings(port=free_port())
    store = MinioBlobStore(s3_client(dead), executor, RetryPolicy(3, 0.05, 0.1))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        await store.get("clearcut-originals", "x")
    assert caught.value.retriable
    assert time.monotonic() - started < 10, "retries are bounded"
    assert await store.reachable("clearcut-originals") is False


EXPIRING = "scratch/"


async def test_state_indexes_results_and_the_store_expires_a_prefix(
    stack: CommonSettings, store: MinioBlobStore
) -> None:
    bucket = ProcessorSettings().state_bucket
    key = f"tests/{uuid.uuid4().hex}.json"
    await store.ensure_bucket(bucket)
    await store.ensure_bucket(bucket)  # idempotent
    assert await store.reachable(bucket)
    state = ProcessorState(store, bucket)
    assert await state.find_results(key) is None

    def result(kind: ResultKind) -> ResultObject:
        return ResultObject(
            kind=kind,
            bucket="clearcut-results",
            key=f"x/{kind.value}",
            size=1,
            content_type="image/png",
            width=1,
            height=1,
        )

    await store.expire(bucket, EXPIRING, 30)
    lifecycle = s3_client(stack.s3).get_bucket_lifecycle(bucket)
    assert lifecycle is not None
    (rule,) = lifecycle.rules
    assert rule.rule_filter is not None and rule.rule_filter.prefix == EXPIRING
    assert rule.expiration is not None and rule.expiration.days == 30

    stored = StoredResults("task-9", result(ResultKind.CUTOUT), result(ResultKind.MASK))
    await state.remember_results(key, stored)
    assert await state.find_results(key) == stored
    await state.forget_results(key)
    assert await state.find_results(key) is None
