"""Retention with short settings against the real stack: results read as `expired` and
their download is refused, reprocessing an expired original is refused, an Idempotency-Key
is honoured only for its lifetime, and `ensure_buckets` sets the lifecycle rules."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from minio import Minio
from prometheus_client import CollectorRegistry

from schemas import ImageUploaded, utc_now
from services.common.s3 import ensure_buckets
from services.common.settings import CommonSettings, RetentionSettings, S3Settings, TopicNames
from services.common.telemetry import Telemetry
from services.upload.api.app import create_app
from services.upload.projector.projection import Projection
from services.upload.settings import UploadSettings
from tests.integration.upload.conftest import Api, Owner
from tests.integration.upload.observe import events_of
from tests.unit.upload import events as ev
from tests.unit.upload import samples

SHORT = RetentionSettings(
    originals_hours=2 / 3600, results_days=1 / 86400, idempotency_key_hours=1 / 3600
)


@pytest.fixture(scope="module")
async def short_api(
    stack: CommonSettings, upload_topics: TopicNames, telemetry: Telemetry
) -> AsyncIterator[Api]:
    common = stack.model_copy(update={"topics": upload_topics, "retention": SHORT})
    settings = UploadSettings(publish_timeout_seconds=10)
    app = create_app(
        settings, common, telemetry=telemetry, registry=CollectorRegistry(), sweep=False
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://upload.test", timeout=30
        ) as client,
    ):
        yield Api(client, app, common, settings)


async def test_results_expire_then_originals(
    short_api: Api, owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    api = short_api
    answer = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    image_id = answer.json()["id"]
    (event,) = [
        e.event
        for _, e in await events_of(api.common, api.common.topics.uploaded, owner.name)
        if e.event.image_id == image_id
    ]
    assert isinstance(event, ImageUploaded)
    projection = Projection(pg_pool)
    await projection.apply(event)
    finished = (utc_now() - ev.T0).total_seconds()  # the task finishes now
    await projection.apply(ev.completed(image_id, event.task_id, owner=owner.name, at=finished))

    fresh = (await api.client.get(f"/v1/images/{image_id}", headers=owner.headers)).json()
    assert fresh["status"] == "completed"
    await asyncio.sleep(1.2)  # past the results' one second
    expired = (await api.client.get(f"/v1/images/{image_id}", headers=owner.headers)).json()
    assert expired["status"] == "expired"
    listed = (await api.client.get("/v1/images", headers=owner.headers)).json()["items"]
    assert [i["status"] for i in listed if i["id"] == image_id] == ["expired"]
    refused = await api.client.get(f"/v1/images/{image_id}/result", headers=owner.headers)
    assert refused.status_code == 410, refused.text
    assert refused.json()["error"]["code"] == "result_expired"
    assert refused.json()["error"]["details"]["expired_at"]

    await asyncio.sleep(1.0)  # past the original's two seconds
    redo = await api.client.post(f"/v1/images/{image_id}/reprocess", headers=owner.headers)
    assert redo.status_code == 409, redo.text
    assert redo.json()["error"]["code"] == "original_expired"
    bad = await api.client.get("/v1/images?status=expired", headers=owner.headers)
    assert bad.status_code == 422


async def test_an_idempotency_key_is_honoured_for_its_lifetime_only(
    short_api: Api, owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}", **owner.headers}
    first = await short_api.client.post("/v1/images", content=samples.photo(), headers=key)
    again = await short_api.client.post("/v1/images", content=samples.photo(), headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    await pg_pool.execute(
        "UPDATE uploads SET created_at = created_at - $2::interval WHERE image_id = $1",
        first.json()["id"],
        timedelta(hours=1),
    )
    later = await short_api.client.post("/v1/images", content=samples.photo(), headers=key)
    assert later.status_code == 202 and "Idempotent-Replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]


def test_buckets_get_expiration_rules(stack: CommonSettings, minio: Minio) -> None:
    suffix = uuid.uuid4().hex[:10]
    s3 = S3Settings(
        **{
            **dict(stack.s3),
            "bucket_originals": f"test-originals-{suffix}",
            "bucket_results": f"test-results-{suffix}",
        }
    )
    try:
        assert set(
            ensure_buckets(s3, RetentionSettings(originals_hours=24, results_days=30)).values()
        ) == {"created"}
        for bucket, days in ((s3.bucket_originals, 1), (s3.bucket_results, 30)):
            rules = minio.get_bucket_lifecycle(bucket)
            assert rules is not None
            (rule,) = rules.rules
            assert rule.expiration is not None and rule.expiration.days == days
    finally:
        for bucket in (s3.bucket_originals, s3.bucket_results):
            if minio.bucket_exists(bucket):
                minio.remove_bucket(bucket)
