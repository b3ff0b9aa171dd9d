"""`POST /v1/images/{id}/reprocess` against the real stack: the request on the topic, the
second task in the API, the owner check, bad input, idempotent retries."""

from __future__ import annotations

import asyncpg

from schemas import ImageUploaded
from services.upload.projector.projection import Projection
from tests.integration.upload.conftest import Api, Owner
from tests.integration.upload.observe import events_of
from tests.unit.upload import samples


async def uploaded(api: Api, owner: Owner, pool: asyncpg.Pool) -> ImageUploaded:
    """An upload of ``owner``, applied to the read model."""
    response = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    assert response.status_code == 202, response.text
    found = [
        e.event
        for _, e in await events_of(api.common, api.common.topics.uploaded, owner.name)
        if e.event.image_id == response.json()["id"]
    ]
    (event,) = found
    assert isinstance(event, ImageUploaded)
    await Projection(pool).apply(event)
    return event


async def requests_of(api: Api, owner: Owner, image_id: str) -> list[ImageUploaded]:
    found = []
    for _, envelope in await events_of(api.common, api.common.topics.uploaded, owner.name):
        event = envelope.event
        if isinstance(event, ImageUploaded) and event.image_id == image_id and event.reprocessing:
            found.append(event)
    return found


async def test_a_reprocess_request_becomes_the_images_current_task(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    original = await uploaded(api, owner, pg_pool)
    image_id = original.image_id
    response = await api.client.post(
        f"/v1/images/{image_id}/reprocess",
        json={"model": "isnet-general-use-quint8", "reason": "try the small model"},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"] == image_id and body["status"] == "queued"
    assert body["model"] == "isnet-general-use-quint8"
    assert body["task_id"] != original.task_id
    assert response.headers["location"] == f"/v1/images/{image_id}"

    (request,) = await requests_of(api, owner, image_id)
    assert request.task_id == body["task_id"]
    assert request.reprocessing is not None
    assert request.reprocessing.replay_id == body["replay_id"]
    assert request.reprocessing.original_event_id == original.event_id
    assert request.reprocessing.requested_by == owner.name
    assert request.reprocessing.reason == "try the small model"
    assert request.original == original.original and request.owner == owner.name
    assert request.options.model == "isnet-general-use-quint8"

    await Projection(pg_pool).apply(request)
    view = (await api.client.get(f"/v1/images/{image_id}", headers=owner.headers)).json()
    assert [t["id"] for t in view["tasks"]] == [original.task_id, request.task_id]
    assert view["current_task"]["id"] == request.task_id
    assert view["current_task"]["reprocessing"]["requested_by"] == owner.name
    assert view["current_task"]["options"]["model"] == "isnet-general-use-quint8"
    assert view["status"] == "queued"


async def test_without_a_body_the_uploads_own_model_is_asked_for_again(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    original = await uploaded(api, owner, pg_pool)
    response = await api.client.post(
        f"/v1/images/{original.image_id}/reprocess", headers=owner.headers
    )
    assert response.status_code == 202, response.text
    assert response.json()["model"] == original.options.model
    (request,) = await requests_of(api, owner, original.image_id)
    assert request.reprocessing is not None and request.reprocessing.reason is None


async def test_another_owners_image_and_unknown_ids_are_not_found(
    api: Api, owner: Owner, other_owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    original = await uploaded(api, owner, pg_pool)
    for image_id, who in ((original.image_id, other_owner), ("no-such-image", owner)):
        response = await api.client.post(f"/v1/images/{image_id}/reprocess", headers=who.headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    assert await requests_of(api, owner, original.image_id) == []
    unauthorised = await api.client.post(f"/v1/images/{original.image_id}/reprocess")
    assert unauthorised.status_code == 401


async def test_bad_requests_are_refused_and_publish_nothing(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    original = await uploaded(api, owner, pg_pool)
    url = f"/v1/images/{original.image_id}/reprocess"
    cases = [
        ({"model": "../etc"}, "invalid_option"),
        ({"reason": "x" * 1001}, "invalid_option"),
        ({"colour": "red"}, "validation_error"),
        ([1, 2], "validation_error"),
    ]
    for body, code in cases:
        response = await api.client.post(url, json=body, headers=owner.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code
    broken = await api.client.post(
        url, content=b"{not json", headers={**owner.headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    bad_key = await api.client.post(url, headers={**owner.headers, "Idempotency-Key": "a b"})
    assert bad_key.status_code == 400
    assert bad_key.json()["error"]["code"] == "invalid_idempotency_key"
    assert await requests_of(api, owner, original.image_id) == []


async def test_a_retry_with_the_same_idempotency_key_creates_no_second_task(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    original = await uploaded(api, owner, pg_pool)
    url = f"/v1/images/{original.image_id}/reprocess"
    headers = {**owner.headers, "Idempotency-Key": "redo-1"}
    first = await api.client.post(url, json={"model": "isnet-general-use-quint8"}, headers=headers)
    assert first.status_code == 202
    (request,) = await requests_of(api, owner, original.image_id)
    await Projection(pg_pool).apply(request)

    again = await api.client.post(url, json={"model": "isnet-general-use-quint8"}, headers=headers)
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["task_id"] == first.json()["task_id"]
    assert len(await requests_of(api, owner, original.image_id)) == 1

    other = await api.client.post(url, json={"model": "isnet-general-use"}, headers=headers)
    assert other.json()["task_id"] != first.json()["task_id"]
    view = (await api.client.get(f"/v1/images/{original.image_id}", headers=owner.headers)).json()
    assert len(view["tasks"]) == 2  # the second request is not applied to the read model here


async def test_the_endpoint_is_documented(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/images/{image_id}/reprocess"]["post"]
    assert {"202", "401", "404", "409", "422", "503"} <= set(operation["responses"])
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
