"""What the web page relies on, against the real stack: the page and its assets with a strict
Content-Security-Policy, the page's configuration, the model catalogue, an unknown model
refused before anything is stored, the ZIP of several results, and CORS only for the
configured origins."""

from __future__ import annotations

import io
import zipfile

import asyncpg
import httpx
from fastapi import FastAPI
from minio import Minio
from prometheus_client import CollectorRegistry

from schemas import ProcessingCompleted
from services.common.auth import AuthSettings
from services.common.settings import CommonSettings
from services.upload.api.app import create_app
from services.upload.projector.projection import Projection
from services.upload.settings import UploadSettings
from tests.integration.upload.conftest import Api, Owner
from tests.integration.upload.observe import events_of
from tests.unit.upload import events as ev
from tests.unit.upload import samples


def bare_app(settings: UploadSettings, common: CommonSettings, dev_key: str) -> FastAPI:
    """An app whose lifespan is not run: enough for what needs no dependency."""
    auth = AuthSettings(dev_key=dev_key)
    return create_app(settings, common, registry=CollectorRegistry(), sweep=False, auth=auth)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://upload.test")


async def test_the_page_is_served_with_a_strict_policy(api: Api) -> None:
    page = await api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/assets/app.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "connect-src 'self' ws://127.0.0.1:8081;" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"

    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        served = await api.client.get(f"/assets/{asset}")
        assert served.status_code == 200, asset
        assert kind in served.headers["content-type"]
    assert (await api.client.get("/assets/missing.js")).status_code == 404


async def test_page_config_offers_the_development_key_only_in_development(
    api: Api, stack: CommonSettings
) -> None:
    config = (await api.client.get("/v1/page-config")).json()
    assert config["websocket_url"] == api.settings.websocket_url
    assert config["max_body_bytes"] == api.settings.max_body_bytes
    assert config["development"] == bool(AuthSettings().dev_key.get_secret_value())

    async with client_for(bare_app(UploadSettings(), stack, "a-dev-key")) as client:
        config = (await client.get("/v1/page-config")).json()
    assert config["development"] is True
    assert config["development_key"] == "a-dev-key"
    async with client_for(bare_app(UploadSettings(), stack, "")) as client:
        config = (await client.get("/v1/page-config")).json()
    assert config["development"] is False
    assert config["development_key"] is None


async def test_models_lists_the_registry(api: Api) -> None:
    listed = await api.client.get("/v1/models")
    assert listed.status_code == 200
    body = listed.json()
    names = [m["name"] for m in body["models"]]
    assert body["default"] == "isnet-general-use"
    assert names[:2] == ["isnet-general-use", "isnet-general-use-quint8"]
    first = body["models"][0]
    assert first["default"] is True
    assert first["input_size"] == {"width": 1024, "height": 1024}
    assert first["licence"].startswith("MIT")
    assert first["description"]
    assert [m["default"] for m in body["models"]].count(True) == 1


async def test_an_unknown_model_is_refused_naming_the_known_ones(
    api: Api, owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    refused = await api.client.post(
        "/v1/images?model=isnet-general-usee", content=samples.photo(), headers=owner.headers
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_option"
    assert error["details"]["option"] == "model"
    assert "isnet-general-use, isnet-general-use-quint8" in error["message"]

    form = await api.client.post(
        "/v1/images",
        files={"file": ("photo.jpg", samples.photo(), "image/jpeg")},
        data={"model": "no-such-model"},
        headers=owner.headers,
    )
    assert form.status_code == 422
    assert form.json()["error"]["details"]["option"] == "model"

    rows = await pg_pool.fetchval("SELECT count(*) FROM uploads WHERE owner = $1", owner.name)
    assert rows == 0
    assert await events_of(api.common, api.common.topics.uploaded, owner.name) == []

    known = await api.client.post(
        "/v1/images?model=isnet-general-use-quint8", content=samples.photo(), headers=owner.headers
    )
    assert known.status_code == 202, known.text


async def test_archive_holds_each_result_under_its_name(
    api: Api, owner: Owner, minio: Minio, pg_pool: asyncpg.Pool
) -> None:
    projection = Projection(pg_pool)
    ids = []
    expected: dict[str, bytes] = {}
    for name in ("holiday.jpg", "holiday.jpg"):
        uploaded = await api.client.post(
            "/v1/images", content=samples.photo(), headers=owner.headers
        )
        image_id, task_id = uploaded.json()["id"], uploaded.json()["task_id"]
        ids.append((image_id, name))
        envelopes = await events_of(api.common, api.common.topics.uploaded, owner.name)
        (envelope,) = [e for _, e in envelopes if e.event.image_id == image_id]
        await projection.apply(envelope.event)
        done = ev.completed(image_id, task_id, owner=owner.name)
        results = []
        for r in done.results:
            data = samples.photo(20, 20, "PNG") + image_id.encode() + r.kind.value.encode()
            minio.put_object(
                api.common.s3.bucket_results, r.key, io.BytesIO(data), len(data), "image/png"
            )
            results.append(
                r.model_copy(update={"bucket": api.common.s3.bucket_results, "size": len(data)})
            )
            stem = "holiday" if len(ids) == 1 else "holiday-2"
            expected[f"{stem}-{r.kind.value}.png"] = data
        await projection.apply(
            ProcessingCompleted.model_validate(
                done.model_dump() | {"results": [r.model_dump() for r in results]}
            )
        )

    body = {"images": [{"id": i, "name": n} for i, n in ids], "masks": True}
    archive = await api.client.post("/v1/images/archive", json=body, headers=owner.headers)
    assert archive.status_code == 200, archive.text
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        assert sorted(zipped.namelist()) == sorted(expected)
        for name, data in expected.items():
            assert zipped.read(name) == data

    cutouts_only = await api.client.post(
        "/v1/images/archive", json={"images": [{"id": ids[0][0]}]}, headers=owner.headers
    )
    with zipfile.ZipFile(io.BytesIO(cutouts_only.content)) as zipped:
        assert zipped.namelist() == [f"{ids[0][0]}-cutout.png"]


async def test_archive_refuses_an_image_without_a_result(api: Api, owner: Owner) -> None:
    uploaded = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    refused = await api.client.post(
        "/v1/images/archive",
        json={"images": [{"id": uploaded.json()["id"]}]},
        headers=owner.headers,
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "result_not_ready"
    empty = await api.client.post("/v1/images/archive", json={"images": []}, headers=owner.headers)
    assert empty.status_code == 422
    anonymous = await api.client.post(
        "/v1/images/archive", json={"images": [{"id": uploaded.json()["id"]}]}
    )
    assert anonymous.status_code == 401


async def test_cors_only_for_the_configured_origins(api: Api, stack: CommonSettings) -> None:
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,idempotency-key",
    }
    default = await api.client.options("/v1/images", headers=preflight)
    assert "access-control-allow-origin" not in default.headers

    settings = UploadSettings(cors_origins="https://app.example.com, https://other.example")
    async with client_for(bare_app(settings, stack, "")) as client:
        allowed = await client.options("/v1/images", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
        foreign = await client.options(
            "/v1/images", headers=preflight | {"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in foreign.headers
        simple = await client.get("/healthz", headers={"Origin": "https://other.example"})
        assert simple.headers["access-control-allow-origin"] == "https://other.example"


async def test_reprocessing_with_an_unknown_model_is_refused(api: Api, owner: Owner) -> None:
    uploaded = await api.client.post("/v1/images", content=samples.photo(), headers=owner.headers)
    refused = await api.client.post(
        f"/v1/images/{uploaded.json()['id']}/reprocess",
        json={"model": "isnet-general-usee"},
        headers=owner.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["option"] == "model"
    assert "isnet-general-use-quint8" in refused.json()["error"]["message"]
