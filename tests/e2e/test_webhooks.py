"""Webhooks end to end, every service a process on topics of this module: an upload with a
`callback_url` completes in the real processor and the webhooks service POSTs it, signed,
to a real local receiver (development setting on) and to the owner's registered endpoint;
a failure is delivered too; the receiver goes down for over a minute and the webhooks
service is restarted meanwhile, and the delivery still arrives after the real backoff, with
every attempt in the owner's delivery log; with the setting off, loopback targets are
refused and the refusal is recorded."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from schemas import FailureReason, ProcessingFailed, new_event_id, utc_now
from services.common.auth import create_key
from services.common.kafka.producer import EventPublisher, create_producer
from services.common.settings import CommonSettings
from services.upload.adapters.postgres import connect as pg_connect
from services.webhooks.domain.signing import (
    ATTEMPT_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.e2e.photos import fresh_photo
from tests.e2e.processes import ServiceProcess, Services, free_port, running, services_for
from tests.integration.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.timeout(900)
DEV_TARGETS = {
    "CLEARCUT_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
    "CLEARCUT_WEBHOOKS_ALLOW_HTTP": "true",
}
# Short backoff so that a minute holds several attempts: 2 s, 4 s, 8 s, then every 10 s.
SHORT_BACKOFF = {
    "CLEARCUT_WEBHOOKS_RETRY_INITIAL_SECONDS": "2",
    "CLEARCUT_WEBHOOKS_RETRY_MAX_INTERVAL_SECONDS": "10",
    "CLEARCUT_WEBHOOKS_POLL_INTERVAL_SECONDS": "0.5",
}


@dataclass
class Deployment:
    common: CommonSettings
    api: str
    owner: str
    key: str
    other_key: str
    endpoint_secret: str
    callback_secret: str
    receiver: Receiver
    services: Services

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def webhooks(self) -> ServiceProcess:
        return self.services["webhooks"]

    def restart_webhooks(self, extra: dict[str, str] | None = None) -> ServiceProcess:
        old = self.webhooks
        assert old.stop() == 0, old.tail()
        env = {k: v for k, v in old.env.items() if k not in DEV_TARGETS} | (extra or {})
        restarted = self.services.replace("webhooks", env)
        restarted.start()
        return restarted


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
async def deployment(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    services = await services_for(
        stack,
        "webhooks",
        tmp_path_factory.mktemp("webhooks"),
        names=("upload", "projector", "processor", "webhooks"),
        webhooks=DEV_TARGETS | SHORT_BACKOFF,
    )
    owner = f"webhooks-{services.unique}"
    conn = await pg_connect(stack.postgres)
    try:
        key = await create_key(conn, owner)
        other_key = await create_key(conn, f"webhooks-other-{services.unique}")
    finally:
        await conn.close()
    receiver = Receiver(free_port())
    await receiver.up()
    endpoint_secret = cli("webhooks", "add", owner, f"{receiver.url}/endpoint", env=DEV_TARGETS)
    callback_secret = cli("webhooks", "secret", owner, env={})
    assert endpoint_secret.startswith("whsec_") and callback_secret.startswith("whsec_")
    try:
        async with running(services):
            yield Deployment(
                stack.model_copy(update={"topics": services.topics}),
                services.api,
                owner,
                key,
                other_key,
                endpoint_secret,
                callback_secret,
                receiver,
                services,
            )
    finally:
        await receiver.down()


async def upload(deployment: Deployment, callback_url: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{deployment.api}/v1/images",
            params={"callback_url": callback_url},
            content=fresh_photo(),
            headers=deployment.headers | {"Content-Type": "image/jpeg"},
        )
    assert response.status_code == 202, response.text
    image_id: str = response.json()["id"]
    return image_id


async def received(receiver: Receiver, image_id: str, count: int, within: float) -> list[Received]:
    deadline = time.monotonic() + within
    while True:
        found = [r for r in receiver.requests if json.loads(r.body)["image_id"] == image_id]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {count} webhooks for {image_id}"
        await asyncio.sleep(0.2)


async def deliveries(
    deployment: Deployment,
    image_id: str,
    ready: Callable[[list[dict[str, Any]]], bool],
    within: float,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    items: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10, headers=deployment.headers) as client:
        while time.monotonic() < deadline:
            response = await client.get(
                f"{deployment.api}/v1/webhooks/deliveries", params={"image_id": image_id}
            )
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            if ready(items):
                return items
            await asyncio.sleep(0.5)
    raise AssertionError(f"delivery log never got there: {json.dumps(items)[:1500]}")


def check_signed(request: Received, secret: str) -> dict[str, Any]:
    headers = request.headers
    assert verify(
        secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], request.body, time.time()
    ), f"signature does not verify: {headers}"
    assert not verify(
        "whsec_wrong",
        headers[TIMESTAMP_HEADER],
        headers[SIGNATURE_HEADER],
        request.body,
        time.time(),
    )
    document: dict[str, Any] = json.loads(request.body)
    assert headers[ID_HEADER] == document["id"]
    assert headers["Content-Type"] == "application/json"
    return document


async def test_a_completion_arrives_signed_at_the_endpoint_and_the_callback(
    deployment: Deployment,
) -> None:
    receiver = deployment.receiver
    image_id = await upload(deployment, f"{receiver.url}/callback?order=17")
    got = await received(receiver, image_id, 2, within=240)
    by_path = {r.path: r for r in got}
    assert set(by_path) == {"/endpoint", "/callback?order=17"}
    endpoint = check_signed(by_path["/endpoint"], deployment.endpoint_secret)
    callback = check_signed(by_path["/callback?order=17"], deployment.callback_secret)
    for document in (endpoint, callback):
        assert document["type"] == "image.completed" and document["status"] == "completed"
        assert document["owner"] == deployment.owner and document["image_id"] == image_id
        assert document["links"]["cutout"] == (
            f"{deployment.api}/v1/images/{image_id}/result?kind=cutout"
        )
        text = json.dumps(document)
        assert "clearcut-originals" not in text and "clearcut-results" not in text
        assert "worker" not in text and "reused" not in text
    assert endpoint["id"] != callback["id"] and endpoint["event_id"] == callback["event_id"]
    # The webhook waited for the read model: the cut-out behind the link is there at once.
    async with httpx.AsyncClient(timeout=30, headers=deployment.headers) as client:
        cutout = await client.get(endpoint["links"]["cutout"])
    assert cutout.status_code == 200 and cutout.content[:4] == b"\x89PNG"

    items = await deliveries(
        deployment,
        image_id,
        lambda i: len(i) == 2 and all(d["status"] == "delivered" for d in i),
        within=30,
    )
    assert {d["id"] for d in items} == {endpoint["id"], callback["id"]}
    for item in items:
        (attempt,) = item["attempt_log"]
        assert attempt["outcome"] == "delivered" and attempt["status_code"] == 200
    assert {d["target"] for d in items} == {"endpoint", "callback"}

    async with httpx.AsyncClient(timeout=10) as client:
        other = await client.get(
            f"{deployment.api}/v1/webhooks/deliveries",
            headers={"Authorization": f"Bearer {deployment.other_key}"},
        )
        page = await client.get(
            f"{deployment.api}/v1/webhooks/deliveries",
            params={"image_id": image_id, "limit": 1},
            headers=deployment.headers,
        )
        assert page.status_code == 200
        second = await client.get(
            f"{deployment.api}/v1/webhooks/deliveries",
            params={"image_id": image_id, "limit": 1, "cursor": page.json()["next_cursor"]},
            headers=deployment.headers,
        )
        bad = await client.get(
            f"{deployment.api}/v1/webhooks/deliveries",
            params={"cursor": "nonsense"},
            headers=deployment.headers,
        )
        anonymous = await client.get(f"{deployment.api}/v1/webhooks/deliveries")
    assert other.status_code == 200 and other.json()["items"] == []  # owner-scoped
    ids = [page.json()["items"][0]["id"], second.json()["items"][0]["id"]]
    assert sorted(ids) == sorted(d["id"] for d in items)
    assert second.json()["next_cursor"] is None
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
    assert anonymous.status_code == 401


async def test_a_failure_is_delivered_without_the_workers_message(
    deployment: Deployment,
) -> None:
    image_id = str(uuid.uuid4())
    failed = ProcessingFailed(
        event_id=new_event_id(),
        image_id=image_id,
        owner=deployment.owner,
        occurred_at=utc_now(),
        task_id=str(uuid.uuid4()),
        attempt=1,
        worker_id="gpu-host-7-4242",
        reason=FailureReason.IMAGE_UNDECODABLE,
        message="cannot decode s3://clearcut-originals/x/y",
        retriable=False,
    )
    producer = create_producer(deployment.common.kafka, "tests-webhooks")
    await producer.start()
    try:
        await EventPublisher(producer, deployment.common.topics, "/tests").publish(failed)
    finally:
        await producer.stop()
    (request,) = await received(deployment.receiver, image_id, 1, within=60)
    document = check_signed(request, deployment.endpoint_secret)
    assert document["type"] == "image.failed" and document["event_id"] == failed.event_id
    assert document["error"] == {
        "reason": "image_undecodable",
        "message": "the image could not be decoded",
        "retriable": False,
    }
    assert "gpu-host" not in request.body.decode() and "s3://" not in request.body.decode()


async def test_a_delivery_survives_the_receiver_down_for_a_minute_and_a_restart(
    deployment: Deployment,
) -> None:
    receiver = deployment.receiver
    await receiver.down()
    image_id = await upload(deployment, f"{receiver.url}/callback")

    def failed_attempts(items: list[dict[str, Any]], at_least: int) -> bool:
        return len(items) == 2 and all(
            sum(a["outcome"] == "failed" for a in d["attempt_log"]) >= at_least for d in items
        )

    items = await deliveries(deployment, image_id, lambda i: failed_attempts(i, 2), within=240)
    first_failure = min(datetime.fromisoformat(d["attempt_log"][0]["started_at"]) for d in items)
    # Restart the service while deliveries are pending: their state is in PostgreSQL.
    deployment.restart_webhooks(DEV_TARGETS)
    await deployment.webhooks.wait_ready()
    await deliveries(deployment, image_id, lambda i: failed_attempts(i, 4), within=120)
    # The receiver stays down for over a minute in all.
    await asyncio.sleep(max(0.0, 62 - (utc_now() - first_failure).total_seconds()))
    assert not [r for r in receiver.requests if json.loads(r.body)["image_id"] == image_id]
    await receiver.up()
    got = await received(receiver, image_id, 2, within=60)
    for request in got:
        secret = (
            deployment.endpoint_secret
            if request.path == "/endpoint"
            else deployment.callback_secret
        )
        check_signed(request, secret)
        assert int(request.headers[ATTEMPT_HEADER]) >= 5
    items = await deliveries(
        deployment, image_id, lambda i: all(d["status"] == "delivered" for d in i), within=30
    )
    assert {d["id"] for d in items} == {r.headers[ID_HEADER] for r in got}  # stable ids
    for item in items:
        log = item["attempt_log"]
        assert [a["outcome"] for a in log] == ["failed"] * (len(log) - 1) + ["delivered"]
        assert item["attempts"] == len(log) >= 5
        starts = [datetime.fromisoformat(a["started_at"]) for a in log]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        # The real backoff: 2 s, then 4 s, then 8 s (10 % jitter; a restart can only delay).
        assert 1.5 <= gaps[0] < gaps[1] < gaps[2] + 3
        assert (starts[-1] - starts[0]).total_seconds() >= 60
        assert all(a["error"] for a in log[:-1])


async def test_loopback_targets_are_refused_with_the_setting_off(
    deployment: Deployment,
) -> None:
    receiver = deployment.receiver
    deployment.restart_webhooks({"CLEARCUT_WEBHOOKS_ALLOW_HTTP": "true"})
    await deployment.webhooks.wait_ready()
    # A name, not an address: refused for what it resolves to.
    image_id = await upload(deployment, f"http://localhost:{receiver.port}/callback")
    items = await deliveries(
        deployment,
        image_id,
        lambda i: len(i) == 2 and all(d["status"] == "refused" for d in i),
        within=240,
    )
    by_target = {d["target"]: d for d in items}
    (callback_attempt,) = by_target["callback"]["attempt_log"]
    assert callback_attempt["outcome"] == "refused"
    assert "localhost resolves to" in callback_attempt["error"]
    assert "loopback" in callback_attempt["error"]
    (endpoint_attempt,) = by_target["endpoint"]["attempt_log"]
    assert endpoint_attempt["outcome"] == "refused" and "loopback" in endpoint_attempt["error"]
    await asyncio.sleep(1)
    assert not [r for r in receiver.requests if json.loads(r.body)["image_id"] == image_id]
