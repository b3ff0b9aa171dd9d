"""The front door of a shared service, over public HTTP and the websocket only, against every
service as a real process on topics, a state bucket and model names of this module: rate
limits weighted by megapixels with their headers, the monthly quota, concurrent uploads, the
bound on buffered bodies, key revocation (HTTP and open websockets), model canaries, and no
trace of one owner in another owner's answers and events."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from PIL import Image

from bench.nullmodel import write_null_models
from services.common.s3 import minio_client
from services.common.settings import CommonSettings
from tests.e2e.processes import running, services_for


@dataclass
class Deployment:
    api: str
    ws: str
    env: dict[str, str]
    processor_metrics: str
    stable: str  # registry default
    canary: str  # a second registered model

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            env={**os.environ, **self.env, "COLUMNS": "250"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def model_tasks(self) -> dict[str, int]:
        """Tasks finished in the last hour per model, from `clearcut models status`."""
        status = self.cli("models", "status", "--since", "1h", "--json")
        assert status.returncode == 0, status.stderr
        return {row["model"]: row["tasks"] for row in json.loads(status.stdout)["models"]}

    def new_key(self, owner: str, *options: str) -> tuple[str, str]:
        """(key, key id) of a key made with `clearcut keys create`."""
        made = self.cli("keys", "create", "--owner", owner, *options)
        assert made.returncode == 0, made.stdout + made.stderr
        key = made.stdout.strip()
        listed = self.cli("keys", "list", "--owner", owner, "--json")
        assert listed.returncode == 0, listed.stderr
        ids = [k["id"] for k in json.loads(listed.stdout)]
        assert len(ids) == 1
        return key, ids[0]


def photo(width: int = 64, height: int = 48, fmt: str = "JPEG") -> bytes:
    """New bytes each time, so no earlier result answers for them."""
    pixels = np.random.default_rng().integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


def flat_photo(width: int, height: int) -> bytes:
    """A large but small-to-send image (one colour, a random pixel so the bytes differ)."""
    image = Image.new("RGB", (width, height), (40, 120, 200))
    image.putpixel((0, 0), tuple(int(v) for v in np.random.default_rng().integers(0, 256, 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def sample(metrics: str, series: str) -> float:
    """The value of one series in Prometheus text, 0 when it is absent."""
    for line in metrics.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def poll(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} within {within} s")


@pytest.fixture(scope="module")
async def deployment(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    unique = uuid.uuid4().hex[:10]
    state_bucket = f"tests-frontdoor-{unique}"
    minio_client(stack.s3).make_bucket(state_bucket)
    stable, canary = f"null-stable-{unique}", f"null-next-{unique}"
    registry = write_null_models(tmp_path_factory.mktemp("models"), [stable, canary])
    env = {
        "CLEARCUT_PROCESSOR_STATE_BUCKET": state_bucket,
        "CLEARCUT_UPLOAD_CONTENT_INDEX_BUCKET": state_bucket,
        "CLEARCUT_PROCESSOR_REGISTRY_FILE": str(registry),
        "CLEARCUT_UPLOAD_MODEL_REGISTRY_FILE": str(registry),
    }
    services = await services_for(
        stack,
        "frontdoor",
        tmp_path_factory.mktemp("frontdoor"),
        partitions=2,
        common=env,
        upload={
            "CLEARCUT_UPLOAD_MAX_BUFFERED_BODIES": "2",
            "CLEARCUT_UPLOAD_BODY_WAIT_SECONDS": "1",
            "CLEARCUT_UPLOAD_RETRY_AFTER_SECONDS": "2",
        },
        notifier={"CLEARCUT_NOTIFIER_KEY_CHECK_SECONDS": "1"},
        processor={
            "CLEARCUT_PROCESSOR_SESSION_TIMEOUT_S": "30",
            "CLEARCUT_PROCESSOR_ROUTING_REFRESH_SECONDS": "1",
        },
    )
    services["upload"].env["CLEARCUT_UPLOAD_WEBSOCKET_URL"] = services.ws
    async with running(services):
        yield Deployment(
            api=services.api,
            ws=services.ws,
            env={"CLEARCUT_TOPIC_PREFIX": services.topics.prefix, **env},
            processor_metrics=f"http://127.0.0.1:{services.processor_port}/metrics",
            stable=stable,
            canary=canary,
        )


async def wait_completed(
    client: httpx.AsyncClient, api: str, key: str, image_ids: list[str], within: float = 120
) -> dict[str, dict[str, Any]]:
    """Each image's status answer once every one of them is completed."""
    done: dict[str, dict[str, Any]] = {}

    async def check() -> bool:
        for image_id in image_ids:
            if image_id in done:
                continue
            answer = await client.get(f"{api}/v1/images/{image_id}", headers=auth(key))
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["status"] != "failed", body
            if body["status"] == "completed":
                done[image_id] = body
        return len(done) == len(image_ids)

    await poll(check, within, f"{len(image_ids)} images completed")
    return done


async def test_a_burst_over_the_rate_gets_429s_with_headers_and_recovers(
    deployment: Deployment,
) -> None:
    key, _ = deployment.new_key(f"burst-{uuid.uuid4().hex[:8]}", "--rate", "5")
    async with httpx.AsyncClient(timeout=30) as client:
        answers = [
            await client.get(f"{deployment.api}/v1/images", headers=auth(key)) for _ in range(8)
        ]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
        for answer in answers:
            assert answer.headers["X-RateLimit-Limit"] == "5"
            assert 1 <= int(answer.headers["X-RateLimit-Reset"]) <= 60
        assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == [4, 3, 2, 1] + [0] * 4
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60

        # The next window starts after Retry-After: the key works again.
        await asyncio.sleep(retry_after + 0.5)
        again = await client.get(f"{deployment.api}/v1/images", headers=auth(key))
        assert again.status_code == 200, again.text
        assert again.headers["X-RateLimit-Remaining"] == "4"


async def test_an_upload_costs_its_megapixels_and_an_unauthenticated_request_has_no_rate(
    deployment: Deployment,
) -> None:
    key, _ = deployment.new_key(f"weight-{uuid.uuid4().hex[:8]}", "--rate", "100")
    async with httpx.AsyncClient(timeout=60) as client:
        # 2000 x 1500 = 3 megapixels: 3 units, the first charged on arrival.
        big = await client.post(
            f"{deployment.api}/v1/images",
            content=flat_photo(2000, 1500),
            headers=auth(key) | {"Content-Type": "image/jpeg"},
        )
        assert big.status_code == 202, big.text
        small = await client.post(
            f"{deployment.api}/v1/images",
            content=photo(),
            headers=auth(key) | {"Content-Type": "image/jpeg"},
        )
        assert small.status_code == 202, small.text
        assert (
            int(big.headers["X-RateLimit-Remaining"]),
            int(small.headers["X-RateLimit-Remaining"]),
        ) in (
            (97, 96),  # both in one minute
            (97, 99),  # the minute turned between them
        )
        # An error answer carries the headers too; a request without a key has none.
        bad = await client.post(
            f"{deployment.api}/v1/images",
            content=b"not an image",
            headers=auth(key) | {"Content-Type": "image/jpeg"},
        )
        assert bad.status_code == 415 and "X-RateLimit-Remaining" in bad.headers
        anonymous = await client.get(f"{deployment.api}/v1/images")
        assert anonymous.status_code == 401 and "X-RateLimit-Limit" not in anonymous.headers


async def test_quota_exhaustion_gets_402_and_nothing_is_stored(deployment: Deployment) -> None:
    owner = f"quota-{uuid.uuid4().hex[:8]}"
    key, _ = deployment.new_key(owner, "--monthly-megapixels", "1")
    async with httpx.AsyncClient(timeout=60) as client:
        first = await client.post(
            f"{deployment.api}/v1/images",
            content=flat_photo(1000, 600),  # 0.6 MP
            headers=auth(key) | {"Content-Type": "image/jpeg"},
        )
        assert first.status_code == 202, first.text
        second = await client.post(
            f"{deployment.api}/v1/images",
            content=flat_photo(1000, 600),
            headers=auth(key) | {"Content-Type": "image/jpeg"},
        )
        assert second.status_code == 402, second.text
        error = second.json()["error"]
        assert error["code"] == "quota_exceeded"
        assert error["details"]["quota_megapixels"] == 1
        assert error["details"]["used_megapixels"] == pytest.approx(0.6)
        # Still room for a small one: the quota counts megapixels, not uploads.
        small = await client.post(
            f"{deployment.api}/v1/images",
            content=photo(200, 200),
            headers=auth(key) | {"Content-Type": "image/jpeg"},
        )
        assert small.status_code == 202, small.text
        await wait_completed(client, deployment.api, key, [first.json()["id"], small.json()["id"]])
        listed = await client.get(f"{deployment.api}/v1/images", headers=auth(key))
        assert {i["id"] for i in listed.json()["items"]} == {first.json()["id"], small.json()["id"]}


async def _slow_body(data: bytes, hold: asyncio.Event) -> AsyncIterator[bytes]:
    yield data[:100]
    await hold.wait()
    yield data[100:]


async def test_concurrent_uploads_and_buffered_bodies_are_bounded(deployment: Deployment) -> None:
    one_key, _ = deployment.new_key(f"conc-{uuid.uuid4().hex[:8]}", "--concurrent", "1")
    data = photo()
    headers = {"Content-Type": "image/jpeg"}
    async with httpx.AsyncClient(timeout=60) as client:
        hold = asyncio.Event()
        first = asyncio.create_task(
            client.post(
                f"{deployment.api}/v1/images",
                content=_slow_body(data, hold),
                headers=auth(one_key) | headers,
            )
        )
        await asyncio.sleep(0.5)
        second = await client.post(
            f"{deployment.api}/v1/images", content=photo(), headers=auth(one_key) | headers
        )
        assert second.status_code == 429, second.text
        assert second.json()["error"]["code"] == "too_many_concurrent_uploads"
        assert second.headers["Retry-After"] == "1"
        hold.set()
        assert (await first).status_code == 202
        third = await client.post(
            f"{deployment.api}/v1/images", content=photo(), headers=auth(one_key) | headers
        )
        assert third.status_code == 202, third.text

        # This server holds two bodies at once (MAX_BUFFERED_BODIES=2) and lets the next
        # wait 1 s: a third slow sender gets 503 server_busy, whatever its key.
        keys = [deployment.new_key(f"buf{i}-{uuid.uuid4().hex[:8]}")[0] for i in range(3)]
        hold = asyncio.Event()
        slow = [
            asyncio.create_task(
                client.post(
                    f"{deployment.api}/v1/images",
                    content=_slow_body(photo(), hold),
                    headers=auth(k) | headers,
                )
            )
            for k in keys[:2]
        ]
        await asyncio.sleep(0.5)
        busy = await client.post(
            f"{deployment.api}/v1/images", content=photo(), headers=auth(keys[2]) | headers
        )
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "server_busy"
        assert busy.headers["Retry-After"] == "2"
        hold.set()
        assert [(await s).status_code for s in slow] == [202, 202]


async def test_a_revoked_key_is_refused_over_http_and_its_websocket_is_closed(
    deployment: Deployment,
) -> None:
    key, key_id = deployment.new_key(f"revoke-{uuid.uuid4().hex[:8]}", "--label", "to revoke")
    async with (
        httpx.AsyncClient(timeout=30) as client,
        websockets.connect(deployment.ws, additional_headers=auth(key)) as ws,
    ):
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome"
        assert (
            await client.get(f"{deployment.api}/v1/images", headers=auth(key))
        ).status_code == 200

        revoked = deployment.cli("keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        refused = await client.get(f"{deployment.api}/v1/images", headers=auth(key))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"

        started = time.monotonic()
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        assert ws.close_code == 4401, (ws.close_code, ws.close_reason)
        assert time.monotonic() - started < 5
    # A new connection with it is refused as well.
    async with websockets.connect(deployment.ws, additional_headers=auth(key)) as again:
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await again.recv()
        assert again.close_code == 4401


async def test_a_rotated_key_works_and_the_old_one_stops(deployment: Deployment) -> None:
    old, old_id = deployment.new_key(f"rotate-{uuid.uuid4().hex[:8]}", "--rate", "50")
    rotated = deployment.cli("keys", "rotate", old_id)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    async with httpx.AsyncClient(timeout=30) as client:
        assert (
            await client.get(f"{deployment.api}/v1/images", headers=auth(old))
        ).status_code == 401
        answer = await client.get(f"{deployment.api}/v1/images", headers=auth(new))
        assert answer.status_code == 200
        assert answer.headers["X-RateLimit-Limit"] == "50"  # the settings came along


async def test_a_read_only_key_cannot_upload(deployment: Deployment) -> None:
    key, _ = deployment.new_key(f"reader-{uuid.uuid4().hex[:8]}", "--scope", "images:read")
    async with httpx.AsyncClient(timeout=30) as client:
        listed = await client.get(f"{deployment.api}/v1/images", headers=auth(key))
        assert listed.status_code == 200
        upload = await client.post(
            f"{deployment.api}/v1/images",
            content=photo(),
            headers=auth(key) | {"Content-Type": "image/jpeg"},
        )
        assert upload.status_code == 403, upload.text
        assert upload.json()["error"]["details"]["scope"] == "images:write"


async def test_a_canary_takes_its_share_and_the_default_changes_without_a_restart(
    deployment: Deployment,
) -> None:
    key, _ = deployment.new_key(f"canary-{uuid.uuid4().hex[:8]}")
    started = deployment.cli("models", "canary", deployment.canary, "--percent", "30")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "30 %" in started.stdout
    await asyncio.sleep(1.5)  # the workers read the routing every second here
    async with httpx.AsyncClient(timeout=60) as client:
        tasks_before = deployment.model_tasks()
        metrics_before = (await client.get(deployment.processor_metrics)).text
        ids = []
        for _ in range(200):
            answer = await client.post(
                f"{deployment.api}/v1/images",
                content=photo(32, 32),
                headers=auth(key) | {"Content-Type": "image/jpeg"},
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        done = await wait_completed(client, deployment.api, key, ids, within=300)
        models = [done[i]["current_task"]["model"]["name"] for i in ids]
        on_canary = models.count(deployment.canary)
        assert models.count(deployment.stable) + on_canary == 200
        assert 40 <= on_canary <= 80, on_canary  # 30 % of 200, within 3 standard deviations

        # Side by side in `clearcut models status` (earlier tests of this module ran on
        # the default model, hence the differences) and in the processor's /metrics.
        status = deployment.cli("models", "status", "--since", "1h", "--json")
        assert status.returncode == 0, status.stderr
        body = json.loads(status.stdout)
        assert body["routing"] == {
            "default": None,
            "canary": deployment.canary,
            "canary_percent": 30.0,
        }
        rows = {r["model"]: r for r in body["models"]}
        expected = {deployment.canary: on_canary, deployment.stable: 200 - on_canary}
        for name, count in expected.items():
            assert rows[name]["tasks"] - tasks_before.get(name, 0) == count
            assert rows[name]["failure_rate"] == 0 and rows[name]["p50_ms"] > 0
        metrics = (await client.get(deployment.processor_metrics)).text
        for name, count in expected.items():
            completed = (
                f'clearcut_processor_model_tasks_total{{model="{name}",outcome="completed",'
                'version="1"}'
            )
            timed = f'clearcut_processor_model_task_seconds_count{{model="{name}",version="1"}}'
            for series in (completed, timed):
                assert sample(metrics, series) - sample(metrics_before, series) == count

        # The canary becomes the default, with the workers running.
        assert deployment.cli("models", "canary", "--off").returncode == 0
        changed = deployment.cli("models", "default", deployment.canary)
        assert changed.returncode == 0, changed.stderr
        await asyncio.sleep(1.5)
        later = []
        for _ in range(5):
            answer = await client.post(
                f"{deployment.api}/v1/images",
                content=photo(32, 32),
                headers=auth(key) | {"Content-Type": "image/jpeg"},
            )
            later.append(answer.json()["id"])
        finished = await wait_completed(client, deployment.api, key, later)
        assert {b["current_task"]["model"]["name"] for b in finished.values()} == {
            deployment.canary
        }
        assert deployment.cli("models", "default", "--registry").returncode == 0


async def test_owner_b_sees_no_trace_of_owner_a_uploading_the_same_bytes(
    deployment: Deployment,
) -> None:
    key_a, _ = deployment.new_key(f"owner-a-{uuid.uuid4().hex[:8]}")
    key_b, _ = deployment.new_key(f"owner-b-{uuid.uuid4().hex[:8]}")
    data = photo(80, 60)
    headers = {"Content-Type": "image/jpeg"}
    async with httpx.AsyncClient(timeout=60) as client:
        a = (
            await client.post(
                f"{deployment.api}/v1/images", content=data, headers=auth(key_a) | headers
            )
        ).json()
        a_done = (await wait_completed(client, deployment.api, key_a, [a["id"]]))[a["id"]]
        a_traces = {a["id"], a["task_id"]}

        messages: list[str] = []
        async with websockets.connect(deployment.ws, additional_headers=auth(key_b)) as ws:
            json.loads(await ws.recv())  # welcome
            await ws.send(json.dumps({"type": "subscribe", "all": True}))
            messages.append(str(await ws.recv()))  # snapshot
            b = (
                await client.post(
                    f"{deployment.api}/v1/images", content=data, headers=auth(key_b) | headers
                )
            ).json()
            async with asyncio.timeout(60):
                while True:
                    text = str(await ws.recv())
                    messages.append(text)
                    message = json.loads(text)
                    if message["type"] == "event" and message["event"]["type"].endswith(
                        ".completed.v1"
                    ):
                        break
        completed = json.loads(messages[-1])["event"]["data"]
        assert completed["image_id"] == b["id"]
        assert "reused_from_task_id" not in completed and "worker_id" not in completed
        for result in completed["results"]:
            assert set(result) == {"kind", "size", "content_type", "width", "height"}
        b_done = (await wait_completed(client, deployment.api, key_b, [b["id"]]))[b["id"]]
        assert b_done["sha256"] == a_done["sha256"]  # the same bytes ...
        answers = [
            json.dumps(b_done),
            (await client.get(f"{deployment.api}/v1/images", headers=auth(key_b))).text,
            *messages,
        ]
        for text in answers:
            for trace in a_traces:
                assert trace not in text, f"owner A's {trace} in {text[:300]}"
            assert "worker_id" not in text and '"bucket"' not in text
            assert f"{socket.gethostname()}-" not in text  # a worker id is host-pid

        # ... and A's image answers B exactly like an id that does not exist, in the same time.
        unknown = str(uuid.uuid4())
        theirs = await client.get(f"{deployment.api}/v1/images/{a['id']}", headers=auth(key_b))
        missing = await client.get(f"{deployment.api}/v1/images/{unknown}", headers=auth(key_b))
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text.replace(a["id"], "ID") == missing.text.replace(unknown, "ID")
        for kind in ("result?kind=cutout", "reprocess"):
            method = client.post if kind == "reprocess" else client.get
            other = await method(
                f"{deployment.api}/v1/images/{a['id']}/{kind}", headers=auth(key_b)
            )
            assert other.status_code == 404, other.text
        timings: dict[str, list[float]] = {"theirs": [], "missing": []}
        for _ in range(40):
            for label, image_id in (("theirs", a["id"]), ("missing", str(uuid.uuid4()))):
                began = time.perf_counter()
                answer = await client.get(
                    f"{deployment.api}/v1/images/{image_id}", headers=auth(key_b)
                )
                timings[label].append(time.perf_counter() - began)
                assert answer.status_code == 404
        theirs_ms, missing_ms = (
            [q * 1000 for q in statistics.quantiles(timings[label], n=4)]
            for label in ("theirs", "missing")
        )
        print(
            "404 quartiles (ms): another owner's id "
            + "/".join(f"{q:.2f}" for q in theirs_ms)
            + ", unknown id "
            + "/".join(f"{q:.2f}" for q in missing_ms)
        )
        # The lower quartile: the time of the work itself, least disturbed by other load.
        assert abs(theirs_ms[0] - missing_ms[0]) < max(3.0, 0.5 * missing_ms[0])
