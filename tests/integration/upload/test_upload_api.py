"""The upload API against the real stack: what is stored, what is published, what is refused."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg
import httpx
import pytest
from minio import Minio

from schemas import ImageUploaded
from services.common.settings import CommonSettings
from services.upload.api.app import create_app
from services.upload.settings import UploadSettings
from tests.integration.upload.conftest import MAX_BODY, Api, Owner
from tests.integration.upload.observe import events_of, objects_of
from tests.unit.upload import samples


async def test_a_valid_upload_is_stored_and_published(api: Api, owner: Owner, minio: Minio) -> None:
    data = samples.jpeg_of_size(200 * 1024)
    response = await api.client.post(
        "/v1/images?output_format=webp&background=%23FFF",
        content=data,
        headers={**owner.headers, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    image_id = body["id"]
    assert body["status"] == "queued"
    assert body["links"]["self"] == f"/v1/images/{image_id}"
    assert body["links"]["websocket"].endswith(f"?image_id={image_id}")
    assert response.headers["location"] == f"/v1/images/{image_id}"

    bucket = api.common.s3.bucket_originals
    (key,) = objects_of(minio, bucket, owner.name)
    stored = minio.get_object(bucket, key)
    try:
        content = stored.read()
        assert stored.headers["Content-Type"] == "image/jpeg"
        assert stored.headers["x-amz-meta-sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        stored.close()
        stored.release_conn()
    assert hashlib.sha256(content).hexdigest() == hashlib.sha256(data).hexdigest()

    ((record, envelope),) = await events_of(api.common, api.common.topics.uploaded, owner.name)
    event = envelope.event
    assert isinstance(event, ImageUploaded)
    assert record.key == image_id.encode()
    assert event.image_id == image_id and event.task_id == body["task_id"]
    assert event.original.bucket == bucket and event.original.key == key
    assert event.original.sha256 == hashlib.sha256(data).hexdigest()
    assert event.original.size == len(data)
    assert event.original.content_type == "image/jpeg"
    assert (event.original.width, event.original.height) == samples_size(data)
    assert event.options.output_format.value == "webp"
    assert event.options.background == "#ffffff"
    assert event.options.model is None
    # The client can find the request's trace, and the Kafka hop belongs to it.
    trace_id = response.headers["x-trace-id"]
    assert len(trace_id) == 32
    assert envelope.traceparent is not None and envelope.traceparent.split("-")[1] == trace_id


def samples_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data)).size


async def test_multipart_upload_with_form_options(api: Api, owner: Owner) -> None:
    response = await api.client.post(
        "/v1/images",
        files={"file": ("photo.png", samples.photo(40, 30, "PNG"), "image/png")},
        data={"output_format": "png", "background": "transparent", "model": "isnet-general-use"},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    ((_, envelope),) = await events_of(api.common, api.common.topics.uploaded, owner.name)
    assert isinstance(envelope.event, ImageUploaded)
    assert envelope.event.options.model == "isnet-general-use"
    assert envelope.event.original.content_type == "image/png"


BAD = {
    **{name: (data, status, code) for name, (data, status, code) in samples.BAD_INPUTS.items()},
    "oversized_body": (b"\xff\xd8\xff" + b"\0" * MAX_BODY, 413, "body_too_large"),
}


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("shape", ["raw", "multipart"])
async def test_bad_input_is_refused_and_leaves_no_object_and_no_event(
    api: Api, owner: Owner, minio: Minio, name: str, shape: str
) -> None:
    data, status, code = BAD[name]
    if shape == "raw":
        request = {"content": data, "headers": {**owner.headers, "Content-Type": "image/jpeg"}}
    else:
        request = {"files": {"file": ("photo.jpg", data, "image/jpeg")}, "headers": owner.headers}
    response = await api.client.post("/v1/images", **request)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    # Written for a person: no object reprs, no decoder library's own sentences.
    for internal in ("<", "0x", "BytesIO", "DOS attack", "PIL", "identify image file"):
        assert internal not in error["message"], error["message"]
    assert objects_of(minio, api.common.s3.bucket_originals, owner.name) == []
    assert await events_of(api.common, api.common.topics.uploaded, owner.name) == []


async def test_invalid_option_is_refused_before_anything_is_stored(
    api: Api, owner: Owner, minio: Minio
) -> None:
    response = await api.client.post(
        "/v1/images?background=red", content=samples.photo(), headers=owner.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_option"
    assert objects_of(minio, api.common.s3.bucket_originals, owner.name) == []


@pytest.mark.parametrize(("given", "published"), [("false", False), ("true", True), (None, None)])
async def test_foreground_estimation_reaches_the_event(
    api: Api, owner: Owner, given: str | None, published: bool | None
) -> None:
    query = "" if given is None else f"?foreground_estimation={given}"
    response = await api.client.post(
        f"/v1/images{query}", content=samples.photo(), headers=owner.headers
    )
    assert response.status_code == 202, response.text
    ((_, envelope),) = await events_of(api.common, api.common.topics.uploaded, owner.name)
    assert isinstance(envelope.event, ImageUploaded)
    assert envelope.event.options.foreground_estimation is published


async def test_a_foreground_estimation_that_is_not_yes_or_no_is_refused(
    api: Api, owner: Owner, minio: Minio
) -> None:
    response = await api.client.post(
        "/v1/images?foreground_estimation=maybe", content=samples.photo(), headers=owner.headers
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_option" and "foreground_estimation" in error["message"]
    assert objects_of(minio, api.common.s3.bucket_originals, owner.name) == []


async def test_unknown_query_parameters_are_refused_by_name_before_anything_is_stored(
    api: Api, owner: Owner, minio: Minio
) -> None:
    response = await api.client.post(
        "/v1/images?format=webp&colour=red&background=%23fff",
        content=samples.photo(),
        headers=owner.headers,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_parameter"
    assert "'colour', 'format'" in error["message"]
    assert "output_format, background, model" in error["message"]
    assert objects_of(minio, api.common.s3.bucket_originals, owner.name) == []
    assert await events_of(api.common, api.common.topics.uploaded, owner.name) == []


async def test_a_huge_option_value_is_not_echoed_back_whole(api: Api, owner: Owner) -> None:
    response = await api.client.post(
        "/v1/images",
        params={"background": "x" * 5000},
        content=samples.photo(),
        headers=owner.headers,
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert len(message) < 200, message
    assert "(5000 characters)" in message


async def test_the_openapi_document_gives_the_error_body_for_every_error_status(
    api: Api,
) -> None:
    document = (await api.client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or path == "/readyz":
                    continue
                schema = response["content"]["application/json"]["schema"]
                # remove.bg's protocol answers its own error shape.
                body = "RemoveBgErrors" if path.startswith("/v1.0/") else "ErrorBody"
                assert schema == {"$ref": f"#/components/schemas/{body}"}, (path, method, status)
    get_image = document["paths"]["/v1/images/{image_id}"]["get"]["responses"]
    assert get_image["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")


async def test_the_same_idempotency_key_twice_yields_one_image(
    api: Api, owner: Owner, minio: Minio
) -> None:
    data = samples.photo(80, 60)
    headers = {**owner.headers, "Idempotency-Key": f"retry-{uuid.uuid4()}"}
    first = await api.client.post("/v1/images", content=data, headers=headers)
    second = await api.client.post("/v1/images", content=data, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["task_id"] == second.json()["task_id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert len(objects_of(minio, api.common.s3.bucket_originals, owner.name)) == 1
    assert len(await events_of(api.common, api.common.topics.uploaded, owner.name)) == 1

    other_body = await api.client.post("/v1/images", content=samples.photo(81, 60), headers=headers)
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"


async def test_a_request_without_a_valid_key_gets_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic eDp5"}):
        response = await api.client.post("/v1/images", content=samples.photo(), headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await api.client.get(f"/v1/images/{uuid.uuid4()}")).status_code == 401


async def test_another_owners_image_answers_404_like_a_missing_one(
    api: Api, owner: Owner, other_owner: Owner
) -> None:
    uploaded = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    image_id = uploaded.json()["id"]
    mine = await api.client.get(f"/v1/images/{image_id}", headers=owner.headers)
    assert mine.status_code == 200
    assert mine.json()["owner"] == owner.name
    for path in (f"/v1/images/{image_id}", f"/v1/images/{image_id}/result"):
        theirs = await api.client.get(path, headers=other_owner.headers)
        assert theirs.status_code == 404
        assert theirs.json()["error"]["code"] == "not_found"
    missing = await api.client.get(f"/v1/images/{uuid.uuid4()}", headers=other_owner.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"].startswith("no image")


async def test_a_failed_publish_answers_503_and_removes_the_object(
    stack: CommonSettings, owner: Owner, minio: Minio, pg_pool: asyncpg.Pool
) -> None:
    # Topics that do not exist (and the broker does not create): no event can be published.
    from services.common.settings import TopicNames

    common = stack.model_copy(update={"topics": TopicNames(prefix=f"missing.{uuid.uuid4().hex}.")})
    settings = UploadSettings(publish_timeout_seconds=1.0, retry_after_seconds=7)
    app = create_app(settings, common, sweep=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://upload.test"
        ) as client,
    ):
        response = await client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert objects_of(minio, stack.s3.bucket_originals, owner.name) == []
    left = await pg_pool.fetchval("SELECT count(*) FROM uploads WHERE owner = $1", owner.name)
    assert left == 0


async def test_health_readiness_metrics_and_openapi(api: Api, owner: Owner) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "object_store": "ok", "kafka": "ok"}
    await api.client.post("/v1/images", content=b"", headers=owner.headers)
    metrics = (await api.client.get("/metrics")).text
    assert 'clearcut_uploads_total{outcome="empty_body"}' in metrics
    assert "clearcut_http_request_duration_seconds_bucket" in metrics
    document = (await api.client.get("/openapi.json")).json()
    upload = document["paths"]["/v1/images"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"202", "401", "413", "415", "422", "503"} <= set(upload["responses"])
    assert (await api.client.get("/docs")).status_code == 200


async def test_concurrent_requests_with_one_key_create_one_image(
    api: Api, owner: Owner, minio: Minio
) -> None:
    data = samples.photo(90, 60)
    headers = {**owner.headers, "Idempotency-Key": f"race-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(api.client.post("/v1/images", content=data, headers=headers) for _ in range(4))
    )
    accepted = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(accepted) == 1
    for response in responses:
        assert response.status_code in (202, 409), response.text
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "idempotency_key_in_use"
    assert len(objects_of(minio, api.common.s3.bucket_originals, owner.name)) == 1
    assert len(await events_of(api.common, api.common.topics.uploaded, owner.name)) == 1


async def test_a_callback_url_reaches_the_event_and_a_bad_one_stores_nothing(
    api: Api, owner: Owner, minio: Minio
) -> None:
    url = "https://hooks.example.com/orders/17?token=abc"
    raw = await api.client.post(
        "/v1/images", params={"callback_url": url}, content=samples.photo(), headers=owner.headers
    )
    assert raw.status_code == 202, raw.text
    form = await api.client.post(
        "/v1/images",
        files={"file": ("photo.png", samples.photo(40, 30, "PNG"), "image/png")},
        data={"callback_url": url + "&form=1"},
        headers=owner.headers,
    )
    assert form.status_code == 202, form.text
    events = await events_of(api.common, api.common.topics.uploaded, owner.name)
    published = {e.event.image_id: e.event for _, e in events}
    assert isinstance(published[raw.json()["id"]], ImageUploaded)
    assert published[raw.json()["id"]].callback_url == url  # type: ignore[union-attr]
    assert published[form.json()["id"]].callback_url == url + "&form=1"  # type: ignore[union-attr]
    assert all(e.schema_version == 2 for e in published.values())

    stored = len(objects_of(minio, api.common.s3.bucket_originals, owner.name))
    bad = await api.client.post(
        "/v1/images",
        params={"callback_url": "ftp://hooks.example.com/"},
        content=samples.photo(),
        headers=owner.headers,
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "invalid_option" and error["details"] == {"option": "callback_url"}
    assert len(objects_of(minio, api.common.s3.bucket_originals, owner.name)) == stored
    assert len(await events_of(api.common, api.common.topics.uploaded, owner.name)) == 2

    # The same Idempotency-Key with another callback is another request.
    headers = {**owner.headers, "Idempotency-Key": f"cb-{uuid.uuid4()}"}
    data = samples.photo(70, 50)
    first = await api.client.post(
        "/v1/images", params={"callback_url": url}, content=data, headers=headers
    )
    other = await api.client.post(
        "/v1/images", params={"callback_url": url + "x"}, content=data, headers=headers
    )
    assert first.status_code == 202 and other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_a_retry_after_an_object_store_outage_is_accepted_with_the_same_key(
    stack: CommonSettings, api: Api, owner: Owner, minio: Minio, pg_pool: asyncpg.Pool
) -> None:
    # An object store that does not answer: a port nothing listens on.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    down = stack.model_copy(update={"s3": stack.s3.model_copy(update={"port": dead_port})})
    app = create_app(UploadSettings(), down, sweep=False)
    data = samples.photo(70, 60)
    headers = {**owner.headers, "Idempotency-Key": f"outage-{uuid.uuid4()}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://upload.test"
        ) as client,
    ):
        refused = await client.post("/v1/images", content=data, headers=headers)
    assert refused.status_code == 503, refused.text
    assert "retry-after" in refused.headers
    # The store is back (the normal app): the client's retry with the same key gets in.
    retried = await api.client.post("/v1/images", content=data, headers=headers)
    assert retried.status_code == 202, retried.text
    assert len(objects_of(minio, api.common.s3.bucket_originals, owner.name)) == 1
    keys = await pg_pool.fetch(
        "SELECT image_id, idempotency_key FROM uploads WHERE owner = $1", owner.name
    )
    assert [r["image_id"] for r in keys if r["idempotency_key"]] == [retried.json()["id"]]
