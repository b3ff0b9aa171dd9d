"""The websocket protocol's edges: errors, authentication, limits, heartbeats, health."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
import websockets

from services.common.kafka.producer import EventPublisher
from tests.integration.notifier.conftest import (
    NotifierProcess,
    Owner,
    ReadModelRows,
    WsClient,
    connect,
    connect_ready,
)
from tests.unit.notifier import factory as ev

MakeOwner = Callable[[], Awaitable[Owner]]


async def closed_with(client: WsClient, within: float = 15.0) -> tuple[int | None, str | None]:
    """Read until the server closes; its close code and reason."""
    deadline = time.monotonic() + within
    with contextlib.suppress(websockets.ConnectionClosed):
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.connection.recv(), deadline - time.monotonic())
    return client.connection.close_code, client.connection.close_reason


async def test_bad_messages_get_clear_errors_and_the_connection_stays_open(
    notifier: NotifierProcess, rows: ReadModelRows, make_owner: MakeOwner
) -> None:
    alice, bob = await make_owner(), await make_owner()
    bobs_image = f"img-{uuid.uuid4().hex[:12]}"
    await rows.uploaded(bobs_image, bob.name, f"task-{uuid.uuid4().hex[:8]}")
    client = await connect_ready(notifier, alice.key)

    await client.send('{"type": "subscribe", "images": ["a"]')
    error = await client.expect_type("error")
    assert error["code"] == "malformed_json"
    assert "not valid JSON" in error["message"]

    await client.send({"type": "teleport", "request_id": "t1"})
    error = await client.expect_type("error")
    assert error["code"] == "unknown_type" and error["request_id"] == "t1"
    assert "'teleport'" in error["message"]

    await client.send({"type": "subscribe", "images": ["fine", "not/fine"]})
    error = await client.expect_type("error")
    assert (error["code"], error["field"]) == ("invalid_message", "images.1")

    await client.connection.send(b"\x00\x01")
    assert (await client.expect_type("error"))["code"] == "unsupported_frame"

    unknown = f"img-{uuid.uuid4().hex[:12]}"
    await client.send({"type": "subscribe", "images": [bobs_image, unknown], "request_id": "s"})
    errors = [await client.expect_type("error"), await client.expect_type("error")]
    assert {(e["code"], e["image_id"]) for e in errors} == {
        ("unknown_image", bobs_image),
        ("unknown_image", unknown),
    }
    # A foreign image reads exactly like one that does not exist.
    assert {e["message"].replace(e["image_id"], "X") for e in errors} == {
        "image 'X' does not exist or does not belong to you"
    }
    assert all(m["type"] != "snapshot" for m in client.received)

    received = await client.roundtrip()
    assert received[-1] == {"type": "pong", "request_id": received[-1]["request_id"]}
    await client.close()


async def test_abuse_closes_the_connection_with_a_meaningful_code(
    notifier: NotifierProcess, make_owner: MakeOwner
) -> None:
    owner = await make_owner()
    client = await connect_ready(notifier, owner.key)
    for _ in range(5):  # the test notifier allows 5 invalid messages in a row
        await client.send("nonsense")
    assert await closed_with(client) == (1008, "too many invalid messages in a row")

    big = await connect_ready(notifier, owner.key)
    await big.send({"type": "ping", "request_id": "x" * 100_000})
    code, _ = await closed_with(big)
    assert code == 1009  # message too big


async def test_a_wrong_key_is_refused_with_4401(
    notifier: NotifierProcess, make_owner: MakeOwner
) -> None:
    for client in (
        await connect(notifier, "cc_not-a-key"),
        await connect(notifier, None, query="?api_key=cc_not-a-key"),
    ):
        error = await client.expect_type("error")
        assert error == {
            "type": "error",
            "code": "unauthorized",
            "message": "the API key is unknown, revoked, expired or lacks the images:read scope",
        }
        assert await closed_with(client) == (4401, "unauthorized")
    basic = WsClient(
        await websockets.connect(notifier.ws_url, additional_headers={"Authorization": "Basic x"})
    )
    assert "Bearer" in (await basic.expect_type("error"))["message"]
    assert (await closed_with(basic))[0] == 4401


async def test_browsers_authenticate_with_the_query_or_a_first_message(
    notifier: NotifierProcess, make_owner: MakeOwner
) -> None:
    owner = await make_owner()
    by_query = await connect(notifier, None, query=f"?api_key={owner.key}")
    assert (await by_query.expect_type("welcome"))["owner"] == owner.name
    await by_query.close()

    by_message = await connect(notifier, None)
    await by_message.send({"type": "subscribe", "all": True, "request_id": "too-early"})
    early = await by_message.expect_type("error")
    assert (early["code"], early["request_id"]) == ("not_authenticated", "too-early")
    await by_message.send({"type": "auth", "key": owner.key})
    welcome = await by_message.expect_type("welcome")
    assert welcome["owner"] == owner.name
    assert welcome["limits"]["queue_size"] == 16
    await by_message.send({"type": "auth", "key": owner.key})
    assert (await by_message.expect_type("error"))["code"] == "already_authenticated"
    await by_message.close()


async def test_a_client_that_never_authenticates_is_closed(
    second_notifier: NotifierProcess,
) -> None:
    client = await connect(second_notifier, None)  # auth timeout 2 s there
    started = time.monotonic()
    error = await client.expect_type("error")
    assert error["message"] == "no API key received within 2 s"
    assert await closed_with(client) == (4401, "unauthorized")
    assert time.monotonic() - started < 10


async def test_connections_per_owner_are_limited(
    notifier: NotifierProcess, make_owner: MakeOwner
) -> None:
    owner = await make_owner()
    admitted = [await connect_ready(notifier, owner.key) for _ in range(3)]
    refused = await connect(notifier, owner.key)
    error = await refused.expect_type("error")
    assert error["code"] == "too_many_connections"
    assert await closed_with(refused) == (1013, "too many connections")
    await admitted[0].close()
    deadline = time.monotonic() + 10
    while True:  # the freed slot is usable as soon as the server saw the close
        again = await connect(notifier, owner.key)
        first = await again.expect(lambda m: m["type"] in {"welcome", "error"})
        if first["type"] == "welcome" or time.monotonic() > deadline:
            break
    assert first["type"] == "welcome"
    for client in [*admitted[1:], again]:
        await client.close()


async def test_unsubscribing_stops_the_events(
    notifier: NotifierProcess,
    publisher: EventPublisher,
    rows: ReadModelRows,
    make_owner: MakeOwner,
) -> None:
    owner = await make_owner()
    image_id, task_id = f"img-{uuid.uuid4().hex[:12]}", f"task-{uuid.uuid4().hex[:8]}"
    await rows.uploaded(image_id, owner.name, task_id)
    watcher = await connect_ready(notifier, owner.key)
    client = await connect_ready(notifier, owner.key)
    for c in (watcher, client):
        await c.send({"type": "subscribe", "images": [image_id]})
        await c.expect_type("snapshot")
    await client.send({"type": "unsubscribe", "images": [image_id], "request_id": "u"})
    assert await client.expect_type("unsubscribed") == {
        "type": "unsubscribed",
        "images": [image_id],
        "all": False,
        "request_id": "u",
    }
    await publisher.publish(ev.started(image_id, owner.name, task_id, at=datetime.now(UTC)))
    await watcher.wait_events(1)
    await client.roundtrip()
    assert client.events() == []
    await watcher.close()
    await client.close()


async def test_health_readiness_metrics_and_plain_http(notifier: NotifierProcess) -> None:
    async with httpx.AsyncClient(base_url=notifier.http_url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok", "checks": {}}
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "checks": {"kafka": "ok", "postgres": "ok"}}
        metrics = (await http.get("/metrics")).text
        for name in (
            "notifier_connections",
            "notifier_subscriptions",
            "notifier_messages_sent_total",
            "notifier_dropped_clients_total",
            "notifier_event_to_send_seconds_bucket",
        ):
            assert name in metrics
        plain = await http.get("/v1/ws")
        assert plain.status_code == 426
        assert plain.json()["code"] == "websocket_required"


@pytest.mark.timeout(60)
async def test_heartbeats_drop_a_peer_that_stops_answering(
    second_notifier: NotifierProcess, make_owner: MakeOwner
) -> None:
    owner = await make_owner()
    before = await second_notifier.metric("notifier_disconnects_total", code="1006")
    reader, writer = await asyncio.open_connection("127.0.0.1", second_notifier.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1/ws?api_key={owner.key} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{second_notifier.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    received = b""
    deadline = time.monotonic() + 20
    # Never answer a ping: the server (heartbeat 1 s) must hang up on its own.
    while time.monotonic() < deadline:
        chunk = await asyncio.wait_for(reader.read(4096), deadline - time.monotonic())
        if not chunk:
            break
        received += chunk
    assert received.startswith(b"HTTP/1.1 101")
    assert b'"type":"welcome"' in received
    assert reader.at_eof(), "the server kept a silent peer connected"
    writer.close()
    after = await second_notifier.metric("notifier_disconnects_total", code="1006")
    assert after == before + 1
