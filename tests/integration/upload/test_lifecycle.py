"""Listing and deleting images against the real stack: the API in-process on topics of its
own, the projection applying what is on those topics, the purger on the real object store."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import asyncpg
import httpx
import pytest
from minio import Minio

from schemas import ImageDeleted, ImageUploaded, ProcessingCompleted, utc_now
from services.upload.adapters.blob_store import MinioBlobStore
from services.upload.adapters.errors import Unavailable
from services.upload.projector.projection import Projection
from services.upload.projector.purger import PurgeBuckets, Purger
from services.upload.projector.runner import run_projector
from services.upload.settings import UploadSettings
from tests.integration.upload.conftest import Api, Owner
from tests.integration.upload.observe import events_of
from tests.unit.upload import events as ev
from tests.unit.upload import samples

INDEX_BUCKET = UploadSettings().content_index_bucket


@pytest.fixture(scope="module")
def index_bucket(minio: Minio) -> str:
    if not minio.bucket_exists(INDEX_BUCKET):
        minio.make_bucket(INDEX_BUCKET)
    return INDEX_BUCKET


@pytest.fixture
def purger(api: Api, pg_pool: asyncpg.Pool, index_bucket: str) -> Purger:
    s3 = api.common.s3
    blobs: MinioBlobStore = api.services.blobs
    return Purger(
        pg_pool,
        blobs,
        PurgeBuckets(s3.bucket_originals, s3.bucket_results, index_bucket),
        requester=api.common.topics.prefix,
    )


async def project(
    api: Api, owner: Owner, pool: asyncpg.Pool, topic: str, purge_delay_seconds: float = 0
) -> list[Any]:
    """Apply every event of ``owner`` on ``topic`` (again: duplicates change nothing)."""
    projection = Projection(
        pool, purge_delay_seconds=purge_delay_seconds, requester=api.common.topics.prefix
    )
    events = [e.event for _, e in await events_of(api.common, topic, owner.name)]
    for event in events:
        await projection.apply(event)
    return events


async def upload(api: Api, owner: Owner) -> str:
    response = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    assert response.status_code == 202, response.text
    image_id: str = response.json()["id"]
    return image_id


async def pages(client: httpx.AsyncClient, owner: Owner, **params: Any) -> list[list[str]]:
    found: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/v1/images", params=query, headers=owner.headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def purged(purger: Purger, pool: asyncpg.Pool, image_id: str) -> asyncpg.Record:
    """Run the purger until the image's purge request is done. The request is this test
    run's (its topic prefix): a projector process sharing this database (the one `clearcut
    up` started for the end-to-end tests) never takes it."""
    for _ in range(300):
        await purger.purge_due()
        row = await pool.fetchrow("SELECT * FROM purge_requests WHERE image_id = $1", image_id)
        if row is not None and row["purged_at"] is not None:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"the purge of {image_id} never finished: {row}")


async def test_pages_cover_every_image_once_while_uploads_go_on(
    api: Api, owner: Owner, other_owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    first = [await upload(api, owner) for _ in range(7)]
    await upload(api, other_owner)
    await project(api, owner, pg_pool, api.common.topics.uploaded)
    await project(api, other_owner, pg_pool, api.common.topics.uploaded)

    seen: list[str] = []
    cursor: str | None = None
    later: list[str] = []
    for _ in range(10):
        query: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        answer = await api.client.get("/v1/images", params=query, headers=owner.headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= 3
        item = body["items"][0]
        assert item["owner"] == owner.name and "tasks" not in item
        assert item["current_task"]["status"] == "pending"
        assert item["created_by"] == owner.name
        seen += [i["id"] for i in body["items"]]
        # New uploads between pages, two at once, applied before the next page is asked.
        later += await asyncio.gather(upload(api, owner), upload(api, owner))
        await project(api, owner, pg_pool, api.common.topics.uploaded)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(first)), "newest first, each image once, none of the later"
    everything = [i for page in await pages(api.client, owner, limit=100) for i in page]
    assert sorted(everything) == sorted(first + later)
    assert other_owner.name not in json.dumps(everything)


async def test_filters_and_bad_parameters(api: Api, owner: Owner, pg_pool: asyncpg.Pool) -> None:
    ids = [await upload(api, owner) for _ in range(3)]
    events = await project(api, owner, pg_pool, api.common.topics.uploaded)
    uploads = {e.image_id: e for e in events if isinstance(e, ImageUploaded)}
    done = uploads[ids[1]]
    await Projection(pg_pool).apply(ev.completed(done.image_id, done.task_id, owner=owner.name))

    completed = await pages(api.client, owner, status="completed")
    assert completed == [[ids[1]]]
    middle = uploads[ids[1]].occurred_at
    since = await pages(api.client, owner, since=middle.isoformat())
    until = await pages(api.client, owner, until=middle.isoformat())
    assert [i for p in since for i in p] == [ids[2], ids[1]]
    assert [i for p in until for i in p] == [ids[0]]

    for params, code, status in (
        ({"limit": 0}, "validation_error", 422),
        ({"limit": 101}, "validation_error", 422),
        ({"status": "sleeping"}, "validation_error", 422),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "invalid_cursor", 400),
        ({"since": "2026-01-02T00:00:00"}, "validation_error", 422),
    ):
        answer = await api.client.get("/v1/images", params=params, headers=owner.headers)
        assert answer.status_code == status, (params, answer.text)
        assert answer.json()["error"]["code"] == code
    assert (await api.client.get("/v1/images")).status_code == 401


def put(minio: Minio, bucket: str, key: str, data: bytes, content_type: str) -> None:
    minio.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)


def stored_results(api: Api, minio: Minio, event: ImageUploaded, at: float) -> ProcessingCompleted:
    """A Completed whose results are really in the results bucket, where the processor puts
    them, and indexed by content in its state bucket."""
    done = ev.completed(event.image_id, event.task_id, owner=event.owner, at=at)
    bucket = api.common.s3.bucket_results
    results = []
    for result in done.results:
        key = f"{event.image_id}/{event.task_id}/{result.kind.value}.png"
        data = samples.photo(20, 20, "PNG")
        put(minio, bucket, key, data, "image/png")
        results.append(result.model_copy(update={"bucket": bucket, "key": key, "size": len(data)}))
    done = ProcessingCompleted.model_validate(
        done.model_dump() | {"results": [r.model_dump() for r in results]}
    )
    index = (
        f"results-by-content/r2/{done.model.sha256}/{event.original.sha256}/"
        f"png-{event.options.background.lstrip('#')}.json"
    )
    entry = {"task_id": event.task_id, "cutout": {}, "mask": {}}
    put(minio, INDEX_BUCKET, index, json.dumps(entry).encode(), "application/json")
    return done


def objects_of_image(api: Api, minio: Minio, event: ImageUploaded) -> list[str]:
    s3 = api.common.s3
    found = [
        f"originals:{o.object_name}"
        for o in minio.list_objects(s3.bucket_originals, prefix=event.original.key)
    ]
    found += [
        f"results:{o.object_name}"
        for o in minio.list_objects(s3.bucket_results, prefix=f"{event.image_id}/", recursive=True)
    ]
    for o in minio.list_objects(INDEX_BUCKET, prefix="results-by-content/", recursive=True):
        assert o.object_name is not None
        response = minio.get_object(INDEX_BUCKET, o.object_name)
        try:
            if json.loads(response.read()).get("task_id") == event.task_id:
                found.append(f"index:{o.object_name}")
        finally:
            response.close()
            response.release_conn()
    return found


async def the_upload(api: Api, owner: Owner, pool: asyncpg.Pool, image_id: str) -> ImageUploaded:
    events = await project(api, owner, pool, api.common.topics.uploaded)
    (found,) = [e for e in events if isinstance(e, ImageUploaded) and e.image_id == image_id]
    return found


async def test_deleting_a_completed_image_hides_it_and_purges_every_object(
    api: Api,
    owner: Owner,
    other_owner: Owner,
    pg_pool: asyncpg.Pool,
    minio: Minio,
    purger: Purger,
    index_bucket: str,
) -> None:
    image_id, kept_id = await upload(api, owner), await upload(api, owner)
    event = await the_upload(api, owner, pg_pool, image_id)
    await Projection(pg_pool).apply(stored_results(api, minio, event, at=2))
    assert (await api.client.get(f"/v1/images/{image_id}/result", headers=owner.headers)).is_success
    assert len(objects_of_image(api, minio, event)) == 4  # original, cutout, mask, index entry

    stranger = await api.client.delete(f"/v1/images/{image_id}", headers=other_owner.headers)
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "not_found"
    deleted = await api.client.delete(f"/v1/images/{image_id}", headers=owner.headers)
    assert deleted.status_code == 202, deleted.text
    assert deleted.json()["status"] == "deleted"
    # At once, before the projector has applied anything: gone for the owner, unknown to others.
    for path in ("", "/result?kind=cutout", "/result?kind=mask"):
        gone = await api.client.get(f"/v1/images/{image_id}{path}", headers=owner.headers)
        assert gone.status_code == 410, (path, gone.text)
        assert gone.json()["error"]["code"] == "image_deleted"
        assert gone.json()["error"]["details"]["deleted_at"] == deleted.json()["deleted_at"]
    elsewhere = await api.client.get(f"/v1/images/{image_id}", headers=other_owner.headers)
    assert elsewhere.status_code == 404
    again = await api.client.delete(f"/v1/images/{image_id}", headers=owner.headers)
    assert again.status_code == 202 and again.json() == deleted.json()
    redo = await api.client.post(f"/v1/images/{image_id}/reprocess", headers=owner.headers)
    assert redo.status_code == 410

    (published,) = [
        e.event
        for _, e in await events_of(api.common, api.common.topics.deleted, owner.name)
        if e.event.image_id == image_id
    ]
    assert isinstance(published, ImageDeleted) and published.deleted_by == owner.name
    await project(api, owner, pg_pool, api.common.topics.deleted)
    row = await pg_pool.fetchrow("SELECT * FROM images WHERE id = $1", image_id)
    assert row["deleted"] and row["deleted_at"] == published.occurred_at
    assert (row["deleted_by"], row["updated_by"], row["created_by"]) == (owner.name,) * 3
    tasks = await pg_pool.fetch("SELECT * FROM processing_tasks WHERE image_id = $1", image_id)
    assert tasks and all(t["deleted"] and t["deleted_by"] == owner.name for t in tasks)
    listed = [i for page in await pages(api.client, owner) for i in page]
    assert image_id not in listed and kept_id in listed

    purge = await purged(purger, pg_pool, image_id)
    assert objects_of_image(api, minio, event) == []
    kept = await the_upload(api, owner, pg_pool, kept_id)
    assert objects_of_image(api, minio, kept) == [f"originals:{kept.original.key}"]
    assert purge["objects"] == 4


async def test_a_deletion_during_processing_wins(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool, minio: Minio, purger: Purger
) -> None:
    image_id = await upload(api, owner)
    event = await the_upload(api, owner, pg_pool, image_id)
    projection = Projection(pg_pool, purge_delay_seconds=0)
    await projection.apply(ev.started(image_id, event.task_id, owner=owner.name, at=1))
    deleted = await api.client.delete(f"/v1/images/{image_id}", headers=owner.headers)
    assert deleted.status_code == 202
    await project(api, owner, pg_pool, api.common.topics.deleted)
    await purged(purger, pg_pool, image_id)
    assert objects_of_image(api, minio, event) == []

    # The processor was still at work: its results and its Completed arrive after the purge.
    late = stored_results(api, minio, event, at=(utc_now() - ev.T0).total_seconds() + 60)
    await projection.apply(late)
    assert len(objects_of_image(api, minio, event)) == 3
    row = await pg_pool.fetchrow(
        "SELECT status, deleted, updated_by FROM processing_tasks WHERE id = $1", event.task_id
    )
    assert (row["status"], row["deleted"], row["updated_by"]) == ("completed", True, "processor")
    gone = await api.client.get(f"/v1/images/{image_id}/result", headers=owner.headers)
    assert gone.status_code == 410

    await purged(purger, pg_pool, image_id)  # the late Completed asked for it again
    assert objects_of_image(api, minio, event) == []


async def test_the_purger_retries_when_the_store_fails(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool, purger: Purger, monkeypatch: pytest.MonkeyPatch
) -> None:
    image_id = await upload(api, owner)
    await the_upload(api, owner, pg_pool, image_id)
    assert (await api.client.delete(f"/v1/images/{image_id}", headers=owner.headers)).is_success
    # Due in an hour: the test makes it due when it wants the purger to try.
    await project(api, owner, pg_pool, api.common.topics.deleted, purge_delay_seconds=3600)

    async def refuse(bucket: str, prefix: str, *, recursive: bool = True) -> list[str]:
        raise Unavailable("object store", "refused by the test")

    monkeypatch.setattr(api.services.blobs, "keys", refuse)
    await pg_pool.execute("UPDATE purge_requests SET due_at = now() WHERE image_id = $1", image_id)
    await purger.purge_due()
    row = await pg_pool.fetchrow("SELECT * FROM purge_requests WHERE image_id = $1", image_id)
    assert row["purged_at"] is None and row["attempts"] == 1 and "refused" in row["last_error"]
    monkeypatch.undo()
    await pg_pool.execute("UPDATE purge_requests SET due_at = now() WHERE image_id = $1", image_id)
    await purger.purge_due()
    row = await pg_pool.fetchrow("SELECT * FROM purge_requests WHERE image_id = $1", image_id)
    assert row["purged_at"] is not None and row["objects"] == 1


async def test_a_purger_leaves_another_deployments_requests_alone(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool, purger: Purger, minio: Minio
) -> None:
    image_id = await upload(api, owner)
    event = await the_upload(api, owner, pg_pool, image_id)
    assert (await api.client.delete(f"/v1/images/{image_id}", headers=owner.headers)).is_success
    elsewhere = Projection(pg_pool, purge_delay_seconds=0, requester="another.deployment.")
    for _, envelope in await events_of(api.common, api.common.topics.deleted, owner.name):
        await elsewhere.apply(envelope.event)
    row = await pg_pool.fetchrow("SELECT * FROM purge_requests WHERE image_id = $1", image_id)
    assert row is not None and row["requester"] == "another.deployment."
    await purger.purge_due()
    row = await pg_pool.fetchrow("SELECT * FROM purge_requests WHERE image_id = $1", image_id)
    assert row["purged_at"] is None and row["attempts"] == 0
    assert minio.stat_object(event.original.bucket, event.original.key).size == event.original.size
    await pg_pool.execute("DELETE FROM purge_requests WHERE image_id = $1", image_id)


async def test_the_projector_process_purges_a_deleted_image_by_itself(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool, minio: Minio, index_bucket: str, unique: str
) -> None:
    image_id = await upload(api, owner)
    event = await the_upload(api, owner, pg_pool, image_id)
    await Projection(pg_pool).apply(stored_results(api, minio, event, at=2))
    assert len(objects_of_image(api, minio, event)) == 4
    settings = UploadSettings(
        projector_group=f"tests-purge-{unique}",
        purge_delay_seconds=0.2,
        purge_interval_seconds=30,  # the deletion wakes the purger; no polling needed
        content_index_bucket=index_bucket,
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(run_projector(settings, api.common, stop))
    try:
        assert (await api.client.delete(f"/v1/images/{image_id}", headers=owner.headers)).is_success
        deadline = asyncio.get_running_loop().time() + 30
        while objects_of_image(api, minio, event):
            assert asyncio.get_running_loop().time() < deadline, objects_of_image(api, minio, event)
            assert not runner.done(), runner
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 15)
    row = await pg_pool.fetchrow("SELECT deleted FROM images WHERE id = $1", image_id)
    assert row["deleted"]
