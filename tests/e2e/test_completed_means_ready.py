""" "The websocket said completed" implies "GET /v1/images/{id} and the result work": every
service a real process on topics of this module (the bench's near-free model, so images
finish in moments). A client that acts on each Completed at once, without retrying, finds
the image completed and its cut-out there; with the projector stopped, Completed is not
pushed at all until the projector is back."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from websockets.asyncio.client import ClientConnection, connect

from bench.nullmodel import write_null_model
from services.common.settings import CommonSettings
from tests.e2e.processes import Services, new_api_key, running, services_for

COMPLETED = "io.clearcut.image.processing.completed.v1"
pytestmark = pytest.mark.timeout(600)


@dataclass
class Deployment:
    services: Services
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def held_events(self) -> float:
        async with httpx.AsyncClient() as client:
            text = (
                await client.get(f"http://127.0.0.1:{self.services.notifier_port}/metrics")
            ).text
        for line in text.splitlines():
            if line.startswith("notifier_held_events "):
                return float(line.split()[-1])
        raise AssertionError("notifier_held_events is not on /metrics")


def photo() -> bytes:
    pixels = np.random.default_rng().integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
async def deployment(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    null = write_null_model(tmp_path_factory.mktemp("null-model"))
    services = await services_for(
        stack,
        "ready",
        tmp_path_factory.mktemp("ready"),
        processor={
            "CLEARCUT_PROCESSOR_REGISTRY_FILE": str(null.registry),
            "CLEARCUT_PROCESSOR_SESSION_TIMEOUT_S": "30",
        },
    )
    key = await new_api_key(stack, f"ready-{services.unique}")
    async with running(services):
        yield Deployment(services, key)


async def subscribe_all(deployment: Deployment) -> ClientConnection:
    ws = await connect(deployment.services.ws, additional_headers=deployment.headers)
    assert json.loads(await ws.recv())["type"] == "welcome"
    await ws.send(json.dumps({"type": "subscribe", "all": True, "request_id": "all"}))
    while json.loads(await ws.recv()).get("request_id") != "all":
        pass
    return ws


async def upload(api: httpx.AsyncClient) -> str:
    response = await api.post("/v1/images", content=photo(), headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 202, response.text
    image_id: str = response.json()["id"]
    return image_id


async def next_completed(ws: ClientConnection, images: set[str], within: float) -> dict[str, Any]:
    """The next Completed event message of one of ``images``."""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no Completed of {images} within {within} s"
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        if (
            message["type"] == "event"
            and message["event"]["type"] == COMPLETED
            and message["image_id"] in images
        ):
            return message


async def test_each_completed_pushed_is_readable_and_downloadable_at_once(
    deployment: Deployment,
) -> None:
    ws = await subscribe_all(deployment)
    async with httpx.AsyncClient(
        base_url=deployment.services.api, headers=deployment.headers, timeout=30
    ) as api:
        for _ in range(3):  # several rounds of several concurrent uploads
            waiting = set(await asyncio.gather(*(upload(api) for _ in range(4))))
            while waiting:
                message = await next_completed(ws, waiting, within=120)
                image_id = message["image_id"]
                # At once, one request each, no retry.
                status = await api.get(f"/v1/images/{image_id}")
                assert status.status_code == 200, status.text
                assert status.json()["status"] == "completed", status.json()
                cutout = await api.get(message["links"]["cutout"], follow_redirects=True)
                assert cutout.status_code == 200, cutout.text
                assert cutout.content.startswith(b"\x89PNG")
                waiting.discard(image_id)
    await ws.close()


async def test_with_the_projector_stopped_completed_waits_until_it_is_back(
    deployment: Deployment,
) -> None:
    services = deployment.services
    ws = await subscribe_all(deployment)
    services["projector"].stop()
    async with httpx.AsyncClient(
        base_url=services.api, headers=deployment.headers, timeout=30
    ) as api:
        image_id = await upload(api)
        # Started and Completed are consumed and held: the projector has applied neither.
        deadline = time.monotonic() + 120
        while await deployment.held_events() < 2:
            assert time.monotonic() < deadline, "the notifier never held the events"
            await asyncio.sleep(0.2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(next_completed(ws, {image_id}, within=60), 3)
        status = await api.get(f"/v1/images/{image_id}")
        assert status.json()["status"] != "completed"

        services.replace("projector").start()
        message = await next_completed(ws, {image_id}, within=120)
        status = await api.get(f"/v1/images/{image_id}")
        assert status.status_code == 200 and status.json()["status"] == "completed"
        cutout = await api.get(message["links"]["cutout"], follow_redirects=True)
        assert cutout.status_code == 200 and cutout.content.startswith(b"\x89PNG")
    deadline = time.monotonic() + 30
    while await deployment.held_events() > 0:  # Started too, once the projector applied it
        assert time.monotonic() < deadline, "events are still held"
        await asyncio.sleep(0.2)
    await ws.close()
