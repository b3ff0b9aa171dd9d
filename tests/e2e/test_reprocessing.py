"""Reprocessing end to end, with every service a real process on topics of this module:
uploads completed with model A, `clearcut replay --model B` for them, a second completed
task per image with B as current, a subscribed client told; and an offset reset to a time
that makes the processor run exactly the uploads after it again."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect

from schemas import ProcessingStarted, utc_now
from services.common.kafka.offsets import describe_group
from services.common.settings import CommonSettings
from services.upload.domain.reprocess import reprocess_ids
from tests.e2e.photos import fresh_photo
from tests.e2e.processes import ServiceProcess, Services, new_api_key, running, services_for
from tests.integration.conftest import poll_until
from tests.integration.upload.observe import events_of

MODEL_A = "isnet-general-use"  # the registry's default
MODEL_B = "isnet-general-use-quint8"
COMPLETED = "io.clearcut.image.processing.completed.v1"


@dataclass
class Deployment:
    common: CommonSettings
    api: str
    ws: str
    owner: str
    key: str
    group: str
    services: Services

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli.replay", *args],
            env={
                **os.environ,
                "CLEARCUT_TOPIC_PREFIX": self.common.topics.prefix,
                "COLUMNS": "200",
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    @property
    def processor(self) -> ServiceProcess:
        return self.services["processor"]

    def new_processor(self) -> ServiceProcess:
        return self.services.replace("processor")


@pytest.fixture(scope="module")
async def deployment(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    pulled = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli.main", "models", "pull", MODEL_B],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    services = await services_for(
        stack,
        "reprocess",
        tmp_path_factory.mktemp("reprocessing"),
        processor={"CLEARCUT_PROCESSOR_SESSION_TIMEOUT_S": "6"},
    )
    owner = f"reprocess-{services.unique}"
    key = await new_api_key(stack, owner)
    async with running(services):
        yield Deployment(
            stack.model_copy(update={"topics": services.topics}),
            services.api,
            services.ws,
            owner,
            key,
            services.processor_group,
            services,
        )


async def poll(
    client: httpx.AsyncClient, url: str, ready: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(url)
        if response.status_code == 200:
            body = response.json()
            if ready(body):
                return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{url} never became ready; last answer: {str(body)[:800]}")


async def subscribe_all(deployment: Deployment) -> ClientConnection:
    ws = await connect(deployment.ws, additional_headers=deployment.headers)
    assert json.loads(await ws.recv())["type"] == "welcome"
    await ws.send(json.dumps({"type": "subscribe", "all": True, "request_id": "all"}))
    return ws


async def completions(ws: ClientConnection, tasks: set[str], within: float) -> dict[str, Any]:
    """The Completed events the websocket delivers for ``tasks``, by task id."""
    found: dict[str, Any] = {}
    deadline = time.monotonic() + within
    while set(found) != tasks:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"told of {sorted(found)} of {sorted(tasks)}"
        message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        if message.get("type") == "event" and message["event"]["type"] == COMPLETED:
            data = message["event"]["data"]
            if data["task_id"] in tasks:
                found[data["task_id"]] = data
    return found


async def upload_and_complete(
    api: httpx.AsyncClient, count: int, within: float = 300
) -> dict[str, str]:
    """Upload ``count`` photos and wait until each is completed; image id -> task id."""
    tasks = {}
    for _ in range(count):
        response = await api.post(
            "/v1/images", content=fresh_photo(), headers={"Content-Type": "image/jpeg"}
        )
        assert response.status_code == 202, response.text
        tasks[response.json()["id"]] = response.json()["task_id"]
    for image_id in tasks:
        await poll(api, f"/v1/images/{image_id}", lambda b: b["status"] == "completed", within)
    return tasks


async def test_a_replay_with_model_b_adds_a_completed_task_per_image(
    deployment: Deployment,
) -> None:
    ws = await subscribe_all(deployment)
    async with httpx.AsyncClient(
        base_url=deployment.api, headers=deployment.headers, timeout=60
    ) as api:
        first = await upload_and_complete(api, 3)
        for image_id in first:
            view = (await api.get(f"/v1/images/{image_id}")).json()
            assert view["current_task"]["model"]["name"] == MODEL_A

        replay_id = f"replay-e2e-{uuid.uuid4().hex[:8]}"
        done = await asyncio.to_thread(
            deployment.cli,
            "replay",
            "--owner",
            deployment.owner,
            "--model",
            MODEL_B,
            "--reason",
            "compare the small model",
            "--replay-id",
            replay_id,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "│ sent │ 3 │" in {" ".join(line.split()) for line in done.stdout.splitlines()}
        second = {image_id: reprocess_ids(replay_id, image_id)[1] for image_id in first}

        told = await completions(ws, set(second.values()), within=300)
        await ws.close()
        assert {data["model"]["name"] for data in told.values()} == {MODEL_B}

        for image_id, task_id in second.items():

            def current_and_done(body: dict[str, Any], task: str = task_id) -> bool:
                return bool(body["current_task"]["id"] == task and body["status"] == "completed")

            view = await poll(api, f"/v1/images/{image_id}", current_and_done, within=120)
            assert [t["id"] for t in view["tasks"]] == [first[image_id], task_id]
            old, new = view["tasks"]
            assert (old["status"], old["model"]["name"]) == ("completed", MODEL_A)
            assert (new["status"], new["model"]["name"]) == ("completed", MODEL_B)
            assert new["reprocessing"]["replay_id"] == replay_id
            assert new["reprocessing"]["reason"] == "compare the small model"
            result = await api.get(f"/v1/images/{image_id}/result")
            assert result.status_code == 200
            assert Image.open(io.BytesIO(result.content)).mode == "RGBA"


async def started_counts(deployment: Deployment) -> Counter[str]:
    """ProcessingStarted events per task id on the topic."""
    found = await events_of(deployment.common, deployment.common.topics.started, deployment.owner)
    return Counter(e.event.task_id for _, e in found if isinstance(e.event, ProcessingStarted))


async def _after(moment: datetime) -> datetime:
    """The time once the clock is clearly past ``moment`` (polled)."""
    assert await poll_until(lambda: utc_now() > moment + timedelta(milliseconds=5), within=5)
    return utc_now()


async def test_an_offset_reset_to_a_time_reruns_exactly_the_uploads_after_it(
    deployment: Deployment,
) -> None:
    async with httpx.AsyncClient(
        base_url=deployment.api, headers=deployment.headers, timeout=60
    ) as api:
        await upload_and_complete(api, 1)  # before the reset time
        reset_to = await _after(utc_now())
        later = await upload_and_complete(api, 2)
    kafka = deployment.common.kafka
    uploaded = deployment.common.topics.uploaded
    # The worker commits its offsets just after the events (a commit per finished upload).
    deadline = time.monotonic() + 60
    while (await describe_group(kafka, deployment.group, [uploaded])).total_lag != 0:
        assert time.monotonic() < deadline, "the processor never committed its offsets"
        await asyncio.sleep(0.2)
    before = await started_counts(deployment)

    deployment.processor.stop()
    deadline = time.monotonic() + 60
    while (await describe_group(kafka, deployment.group, [uploaded])).members:
        assert time.monotonic() < deadline, "the stopped processor is still a member"
        await asyncio.sleep(0.2)
    reset = await asyncio.to_thread(
        deployment.cli,
        "offsets",
        "reset",
        deployment.group,
        "--to",
        reset_to.isoformat(),
        "--topic",
        uploaded,
    )
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert (await describe_group(kafka, deployment.group, [uploaded])).total_lag == 2

    processor = deployment.new_processor()
    processor.start()
    await processor.wait_ready()
    deadline = time.monotonic() + 300
    while True:
        counts = await started_counts(deployment)
        lag = (await describe_group(kafka, deployment.group, [uploaded])).total_lag
        if lag == 0 and all(counts[t] > before[t] for t in later.values()):
            break
        assert time.monotonic() < deadline, f"lag {lag}, started {counts}\n{processor.tail()}"
        await asyncio.sleep(0.5)
    rerun = {task for task in counts if counts[task] != before[task]}
    assert rerun == set(later.values()), "exactly the uploads after the reset time ran again"
    assert all(counts[t] == before[t] + 1 for t in later.values())
