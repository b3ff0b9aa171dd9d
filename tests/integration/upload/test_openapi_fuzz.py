"""Schemathesis against the live upload API: no 5xx, and every response as documented.

Bounded: a few examples per operation and a deadline per test; the server runs once for
the module, as a real process, on topics of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import CommonSettings, TopicNames
from services.upload.api.app import create_app
from services.upload.settings import UploadSettings
from tests.integration.upload.live_server import LiveServer, cli, live_server

MAX_BODY = 262144
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def server(stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    topics = TopicNames(prefix=f"test.fuzz.{uuid.uuid4().hex[:12]}.", partitions=1)
    asyncio.run(create_topics(stack.kafka, project_topics(topics)))
    cli("db", "migrate")
    env = {"CLEARCUT_TOPIC_PREFIX": topics.prefix, "CLEARCUT_UPLOAD_MAX_BODY_BYTES": str(MAX_BODY)}
    with live_server(tmp_path_factory.mktemp("fuzz"), env) as running:
        yield running


@pytest.fixture(scope="module")
def api_key(server: LiveServer) -> str:
    return cli("keys", "create", "--owner", f"fuzz-{uuid.uuid4().hex[:8]}").strip()


# The document is generated from the app itself (building it connects to nothing); the first
# test checks that the live server serves exactly this document.
# The document states the server's limits, so it is built with the server's own.
DOCUMENT = create_app(UploadSettings(max_body_bytes=MAX_BODY), CommonSettings()).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
# TIFF bodies are sent as their bytes, as schemathesis sends the image types it knows.
schemathesis.serializer.alias("image/tiff", "application/octet-stream")


def test_the_live_server_serves_the_document_under_test(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/openapi.json").json() == DOCUMENT


@pytest.mark.timeout(240)
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi_document(
    case: Case[Any], server: LiveServer, api_key: str
) -> None:
    case.call_and_validate(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS
    )


def test_the_fuzzed_server_was_exercised_and_logged_no_unhandled_error(
    server: LiveServer,
) -> None:
    families = text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
    answered = [
        (sample.labels, sample.value)
        for family in families
        if family.name == "clearcut_http_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    ]
    uploads = sum(n for labels, n in answered if labels["route"] == "/v1/images")
    assert uploads >= 10, answered
    assert not [labels for labels, _ in answered if labels["status"].startswith("5")], answered
    assert "unhandled error" not in Path(server.log).read_text()
