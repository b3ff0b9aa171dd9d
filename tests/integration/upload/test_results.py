"""Status and results of an uploaded image once the projector has applied the processor's
events: 409 before, the bytes (or a presigned URL) after, and an ImageDownloaded event."""

from __future__ import annotations

import io
import uuid

import asyncpg
import httpx
import pytest
from minio import Minio

from schemas import ImageDownloaded, ProcessingCompleted
from services.upload.adapters.errors import Unavailable
from services.upload.projector.projection import Projection
from tests.integration.upload.conftest import Api, Owner
from tests.integration.upload.observe import events_of
from tests.unit.upload import events as ev
from tests.unit.upload import samples


def put(minio: Minio, bucket: str, key: str, data: bytes) -> None:
    minio.put_object(bucket, key, io.BytesIO(data), len(data), content_type="image/png")


async def test_results_are_409_until_completed_then_served_and_recorded(
    api: Api, owner: Owner, minio: Minio, pg_pool: asyncpg.Pool
) -> None:
    uploaded = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    image_id, task_id = uploaded.json()["id"], uploaded.json()["task_id"]
    ((_, envelope),) = await events_of(api.common, api.common.topics.uploaded, owner.name)
    projection = Projection(pg_pool)
    await projection.apply(envelope.event)

    not_ready = await api.client.get(f"/v1/images/{image_id}/result", headers=owner.headers)
    assert not_ready.status_code == 409
    assert not_ready.json()["error"]["code"] == "result_not_ready"
    assert not_ready.json()["error"]["details"]["status"] == "queued"

    await projection.apply(ev.started(image_id, task_id, owner=owner.name))
    status = (await api.client.get(f"/v1/images/{image_id}", headers=owner.headers)).json()
    assert status["status"] == "processing"
    assert status["current_task"]["model"]["name"]
    not_ready = await api.client.get(f"/v1/images/{image_id}/result", headers=owner.headers)
    assert not_ready.json()["error"]["details"]["status"] == "processing"

    done = ev.completed(image_id, task_id, owner=owner.name)
    contents = {
        r.kind.value: samples.photo(20, 20, "PNG") + r.kind.value.encode() for r in done.results
    }
    results = [
        r.model_copy(
            update={"bucket": api.common.s3.bucket_results, "size": len(contents[r.kind.value])}
        )
        for r in done.results
    ]
    done = ProcessingCompleted.model_validate(
        done.model_dump() | {"results": [r.model_dump() for r in results]}
    )
    for result in done.results:
        put(minio, result.bucket, result.key, contents[result.kind.value])
    await projection.apply(done)

    status = (await api.client.get(f"/v1/images/{image_id}", headers=owner.headers)).json()
    assert status["status"] == "completed"
    assert status["current_task"]["timings"]["inference_ms"] >= 0
    assert status["current_task"]["duration_ms"] == done.timings.total_ms
    assert [t["id"] for t in status["tasks"]] == [task_id]

    for kind in ("cutout", "mask"):
        served = await api.client.get(
            f"/v1/images/{image_id}/result?kind={kind}", headers=owner.headers
        )
        assert served.status_code == 200, served.text
        assert served.content == contents[kind]
        assert served.headers["content-type"] == "image/png"

    downloads = await events_of(api.common, api.common.topics.downloaded, owner.name)
    kinds = sorted(e.event.kind.value for _, e in downloads if isinstance(e.event, ImageDownloaded))
    assert kinds == ["cutout", "mask"]
    assert all(
        isinstance(e.event, ImageDownloaded) and e.event.task_id == task_id for _, e in downloads
    )


async def test_presigned_urls_serve_the_object(api: Api, minio: Minio) -> None:
    key = f"tests/{uuid.uuid4()}.png"
    data = samples.photo(20, 20, "PNG")
    put(minio, api.common.s3.bucket_results, key, data)
    url = await api.services.blobs.presigned_url(api.common.s3.bucket_results, key, 60)
    async with httpx.AsyncClient() as client:
        fetched = await client.get(url)
    assert fetched.status_code == 200 and fetched.content == data


async def test_the_sweep_removes_objects_of_abandoned_uploads(
    api: Api, owner: Owner, minio: Minio, pg_pool: asyncpg.Pool
) -> None:
    bucket = api.common.s3.bucket_originals
    abandoned, published = (
        ev.uploaded(f"img-{uuid.uuid4().hex}", "t-" + uuid.uuid4().hex, owner=owner.name)
        for _ in range(2)
    )
    for event in (abandoned, published):
        put(minio, bucket, event.original.key, samples.photo())
        await pg_pool.execute(
            "INSERT INTO uploads (image_id, owner, request_fingerprint, state, bucket, "
            "object_key, event, created_at) "
            "VALUES ($1, $2, 'x', 'pending', $3, $4, $5, now() - interval '2 hours')",
            event.image_id,
            owner.name,
            bucket,
            event.original.key,
            event.model_dump(mode="json"),
        )
    # The second one's event did get out: the projector knows the image.
    await Projection(pg_pool).apply(published)

    removed = await api.services.sweep_abandoned()

    assert abandoned.image_id in removed and published.image_id not in removed
    listing = {
        o.object_name for o in minio.list_objects(bucket, prefix=f"{owner.name}/", recursive=True)
    }
    assert listing == {published.original.key}
    states = dict(
        await pg_pool.fetch("SELECT image_id, state FROM uploads WHERE owner = $1", owner.name)
    )
    assert states == {published.image_id: "published"}


async def test_the_sweep_keeps_an_upload_whose_event_is_out_though_the_ledger_missed_it(
    api: Api, owner: Owner, minio: Minio, pg_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(image_id: str) -> None:
        raise Unavailable("postgres", "refused by the test")

    # The broker acknowledged the event, then the ledger could not be told.
    monkeypatch.setattr(api.services.ledger, "mark_published", refuse)
    uploaded = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    monkeypatch.undo()
    assert uploaded.status_code == 202, uploaded.text
    image_id = uploaded.json()["id"]
    row = await pg_pool.fetchrow(
        "SELECT state, bucket, object_key FROM uploads WHERE image_id = $1", image_id
    )
    assert row is not None and row["state"] == "pending"
    # Old enough for the sweep, and no projector reads these topics: the read model does not
    # know the image, only the topic does.
    await pg_pool.execute(
        "UPDATE uploads SET created_at = created_at - interval '2 hours' WHERE image_id = $1",
        image_id,
    )
    assert await pg_pool.fetchval("SELECT count(*) FROM images WHERE id = $1", image_id) == 0

    removed = await api.services.sweep_abandoned()

    assert image_id not in removed
    assert (
        await pg_pool.fetchval("SELECT state FROM uploads WHERE image_id = $1", image_id)
        == "published"
    )
    assert minio.stat_object(row["bucket"], row["object_key"]).size == len(samples.photo())
