"""The OpenAPI document against the checks the server runs: every value a declared schema
accepts, the server's own parser accepts too, and the links name real operations. The
document is built from the app itself (building it connects to nothing)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.model_catalogue import load_catalogue
from services.common.settings import CommonSettings
from services.upload.api.app import create_app
from services.upload.domain.errors import Rejected
from services.upload.domain.idempotency import check_key
from services.upload.domain.options import parse_background, parse_foreground_estimation
from services.upload.settings import UploadSettings

SETTINGS = UploadSettings(min_dimension=24)
DOCUMENT: dict[str, Any] = create_app(SETTINGS, CommonSettings()).openapi()
UPLOAD = DOCUMENT["paths"]["/v1/images"]["post"]


def _query(name: str) -> dict[str, Any]:
    parameter = next(p for p in UPLOAD["parameters"] if p["name"] == name)
    schema: dict[str, Any] = parameter["schema"]
    return schema


def _accepts(check: Any, value: str) -> bool:
    try:
        check(value)
    except Rejected:
        return False
    return True


@pytest.mark.parametrize(
    "key", ["a", "x" * 255, "x" * 256, "", "with space", "caf\u00e9", "tab\tkey", "!~", "a\x7f"]
)
def test_the_idempotency_key_schema_is_what_the_server_accepts(key: str) -> None:
    header = next(p for p in UPLOAD["parameters"] if p["name"] == "Idempotency-Key")
    schema = header["schema"]
    declared = (
        schema["minLength"] <= len(key) <= schema["maxLength"]
        and re.search(schema["pattern"], key) is not None
    )
    assert declared == _accepts(check_key, key)


@pytest.mark.parametrize(
    "value", ["", "transparent", "#fff", "#FFFFFF", "#a1b2c3", "#ffff", "red", "#ggg", "fff"]
)
def test_the_background_pattern_admits_only_what_the_server_accepts(value: str) -> None:
    declared = re.search(_query("background")["pattern"], value) is not None
    assert declared == _accepts(parse_background, value)


def test_every_declared_option_value_is_accepted() -> None:
    for value in _query("foreground_estimation")["enum"]:
        assert _accepts(parse_foreground_estimation, value)


def test_the_model_option_names_exactly_the_registry_models_or_empty() -> None:
    names = load_catalogue(SETTINGS.model_registry_file).names
    assert _query("model")["enum"] == [*names, ""]
    form = UPLOAD["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["model"]["enum"] == [*names, ""]
    reprocess = DOCUMENT["components"]["schemas"]["ReprocessRequest"]["properties"]["model"]
    assert {"type": "string", "enum": [*names, ""]} in reprocess["anyOf"]


def test_the_upload_states_the_minimum_size_and_its_error() -> None:
    assert "each side at least 24 px (422 `image_too_small`)" in UPLOAD["description"]
    assert "`image_too_small`: a side under 24 px" in UPLOAD["responses"]["422"]["description"]
    form = UPLOAD["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["file"]
    assert form["schema"]["properties"]["file"]["minLength"] == 1


def test_every_link_names_an_operation_and_its_parameters() -> None:
    operations = {
        op["operationId"]: op for item in DOCUMENT["paths"].values() for op in item.values()
    }
    links = [
        link
        for item in DOCUMENT["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 10
    for link in links:
        target = operations[link["operationId"]]
        names = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= names, link


def test_a_405_allows_every_method_of_the_path() -> None:
    client = TestClient(create_app(SETTINGS, CommonSettings()))  # no lifespan: no connections
    response = client.put("/v1/images/some-id")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, DELETE"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert client.put("/v1/images").headers["Allow"] == "GET, POST"
    # The archive's own path, not the image path its name also fits.
    assert client.put("/v1/images/archive").headers["Allow"] == "POST"
    assert client.post("/healthz").headers["Allow"] == "GET"
