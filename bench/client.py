"""A client of the running pipeline that keeps time: uploads over HTTP, outcomes from the
websocket, results over HTTP.

One websocket subscribed to all of the owner's images is opened before the first upload,
so no event can slip past; each Completed or Failed message is stamped with the time it
arrived the moment the reader gets it, and kept until asked for (an event may arrive
before the upload's answer does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

logger = logging.getLogger(__name__)

COMPLETED = "io.clearcut.image.processing.completed.v1"
FAILED = "io.clearcut.image.processing.failed.v1"


class BenchError(RuntimeError):
    """The pipeline refused or lost something a bench needed; the message says what."""


@dataclass(frozen=True)
class Accepted:
    image_id: str
    task_id: str
    request_started: float  # epoch seconds
    accepted: float
    trace_id: str | None = None  # the request's trace in Jaeger


@dataclass(frozen=True)
class Outcome:
    image_id: str
    completed: bool
    received: float  # epoch seconds when the websocket message arrived
    data: dict[str, Any]  # the event's data

    @property
    def occurred_at(self) -> float:
        return datetime.fromisoformat(str(self.data["occurred_at"])).timestamp()

    @property
    def timings(self) -> dict[str, float]:
        timings: dict[str, float] = self.data.get("timings") or {}
        return timings

    @property
    def reused_from(self) -> str | None:
        value = self.data.get("reused_from_task_id")
        return str(value) if value is not None else None

    @property
    def failure(self) -> str:
        error = self.data.get("error") or {}
        return f"{error.get('reason')}: {error.get('message')}"


class PipelineClient:
    def __init__(self, api_url: str, ws_url: str, key: str, *, connections: int = 64) -> None:
        self.api_url = api_url
        self.ws_url = ws_url
        self._key = key
        self._connections = connections
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._outcomes: dict[str, asyncio.Future[Outcome]] = {}

    async def __aenter__(self) -> PipelineClient:
        limits = httpx.Limits(
            max_connections=self._connections, max_keepalive_connections=self._connections
        )
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self._key}"},
            timeout=180,
            limits=limits,
        )
        try:
            self._ws = await connect(
                self.ws_url,
                additional_headers={"Authorization": f"Bearer {self._key}"},
                open_timeout=20,
                max_size=None,
            )
        except OSError as exc:
            await self._http.aclose()
            raise BenchError(f"cannot reach the notifier at {self.ws_url}: {exc}") from exc
        welcome = json.loads(await self._ws.recv())
        if welcome.get("type") != "welcome":
            raise BenchError(f"the notifier refused the bench's key: {welcome}")
        await self._ws.send(json.dumps({"type": "subscribe", "all": True}))
        snapshot = json.loads(await self._ws.recv())
        if snapshot.get("type") != "snapshot":
            raise BenchError(f"the notifier did not answer the subscription: {snapshot}")
        self._reader = asyncio.create_task(self._read(self._ws))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("the client is not open")
        return self._http

    async def upload(
        self, body: bytes, params: dict[str, str] | None = None, content_type: str = "image/jpeg"
    ) -> Accepted:
        started = time.time()
        response = await self.http.post(
            "/v1/images", content=body, params=params, headers={"Content-Type": content_type}
        )
        accepted = time.time()
        if response.status_code != 202:
            raise BenchError(f"upload refused: HTTP {response.status_code} {response.text[:300]}")
        answer = response.json()
        return Accepted(
            answer["id"], answer["task_id"], started, accepted, response.headers.get("x-trace-id")
        )

    async def outcome(self, image_id: str, within: float) -> Outcome:
        """The Completed or Failed message of the image, waiting at most ``within`` s."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._future(image_id)), within)
        except TimeoutError:
            raise BenchError(f"image {image_id} had no outcome within {within:.0f} s") from None

    async def completed(self, image_id: str, within: float) -> Outcome:
        """The Completed message; a Failed one, or one reusing earlier results, is an error."""
        outcome = await self.outcome(image_id, within)
        if not outcome.completed:
            raise BenchError(f"image {image_id} failed: {outcome.failure}")
        if outcome.reused_from is not None:
            raise BenchError(
                f"image {image_id} reused the results of task {outcome.reused_from}: its bytes "
                "were not fresh, so the model did not run"
            )
        return outcome

    async def result(self, image_id: str, kind: str = "cutout", within: float = 60) -> bytes:
        """The result's bytes; retried while the read model does not have it yet (409)."""
        deadline = time.monotonic() + within
        delay = 0.01
        while True:
            response = await self.http.get(
                f"/v1/images/{image_id}/result", params={"kind": kind}, follow_redirects=True
            )
            if response.status_code == 200:
                return response.content
            if response.status_code != 409 or time.monotonic() >= deadline:
                raise BenchError(
                    f"result of {image_id}: HTTP {response.status_code} {response.text[:200]}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _future(self, image_id: str) -> asyncio.Future[Outcome]:
        future = self._outcomes.get(image_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._outcomes[image_id] = future
        return future

    async def _read(self, websocket: ClientConnection) -> None:
        async for raw in websocket:
            received = time.time()
            message = json.loads(raw)
            if message.get("type") == "error":
                logger.warning("notifier: %s", message.get("message"))
                continue
            if message.get("type") != "event":
                continue
            event = message.get("event", {})
            kind = event.get("type")
            if kind not in (COMPLETED, FAILED):
                continue
            future = self._future(str(message.get("image_id")))
            if not future.done():
                future.set_result(
                    Outcome(str(message["image_id"]), kind == COMPLETED, received, event["data"])
                )
