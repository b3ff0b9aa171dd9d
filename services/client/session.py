"""Upload photos over HTTP, follow them over the websocket, download the cut-outs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.client.naming import SUBMIT_PATTERN, render
from services.client.outcome import Tracked, apply_message, apply_snapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitOptions:
    api_url: str
    ws_url: str
    key: str
    output_format: str = "png"
    background: str | None = None
    model: str | None = None
    foreground_estimation: bool | None = None
    out_dir: Path | None = None
    name_pattern: str = SUBMIT_PATTERN
    overwrite: bool = False
    wait: bool = True
    timeout: float = 600.0
    concurrency: int = 4

    def target(self, tracked: Tracked) -> Path:
        assert self.out_dir is not None
        name = render(
            self.name_pattern, fmt=self.output_format, path=tracked.path, image_id=tracked.image_id
        )
        return self.out_dir / name


class ClientError(RuntimeError):
    """The pipeline cannot be reached or refuses us; the message says what to do."""


class Submission:
    def __init__(self, options: SubmitOptions, on_change: Callable[[Tracked], None]) -> None:
        self.options = options
        self.on_change = on_change
        self.by_id: dict[str, Tracked] = {}
        self._early: dict[str, list[dict[str, Any]]] = {}  # messages before the upload answered
        self._all_done = asyncio.Event()
        self._tracked: list[Tracked] = []

    async def run(self, files: list[Path]) -> list[Tracked]:
        self._tracked = [Tracked(path) for path in files]
        headers = {"Authorization": f"Bearer {self.options.key}"}
        async with httpx.AsyncClient(
            base_url=self.options.api_url, headers=headers, timeout=60
        ) as http:
            if not self.options.wait:
                await self._upload_all(http)
                return self._tracked
            websocket = await self._connect()
            reader = asyncio.create_task(self._read(websocket))
            try:
                await self._upload_all(http)
                self._check_done()
                # Past the timeout an image is still processing, not failed: the caller
                # reports it as pending, with how to fetch its result later.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_done.wait(), self.options.timeout)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await reader
                await websocket.close()
            if self.options.out_dir is not None:
                await self._download_all(http)
        return self._tracked

    async def _connect(self) -> ClientConnection:
        try:
            websocket = await connect(
                self.options.ws_url,
                additional_headers={"Authorization": f"Bearer {self.options.key}"},
                open_timeout=10,
            )
        except InvalidStatus as exc:
            raise ClientError(
                f"the notifier at {self.options.ws_url} refused the websocket: "
                f"HTTP {exc.response.status_code}"
            ) from exc
        except OSError as exc:
            raise ClientError(
                f"cannot reach the notifier at {self.options.ws_url} ({exc}); "
                "is the pipeline running? (clearcut up)"
            ) from exc
        welcome = json.loads(await websocket.recv())
        if welcome.get("type") != "welcome":
            raise ClientError(f"the notifier refused us: {welcome.get('message', welcome)}")
        # Follow every image of ours, present and future, before the first upload: no event
        # of an image uploaded below can slip past.
        await websocket.send(json.dumps({"type": "subscribe", "all": True}))
        return websocket

    async def _read(self, websocket: ClientConnection) -> None:
        async for raw in websocket:
            message = json.loads(raw)
            if message.get("type") == "snapshot":
                for image in message.get("images", []):
                    tracked = self.by_id.get(image.get("image_id", ""))
                    if tracked and apply_snapshot(tracked, image):
                        self.on_change(tracked)
            elif message.get("type") == "event":
                image_id = message.get("image_id", "")
                tracked = self.by_id.get(image_id)
                if tracked is None:
                    self._early.setdefault(image_id, []).append(message)
                elif apply_message(tracked, message):
                    self.on_change(tracked)
            elif message.get("type") == "error":
                logger.warning("notifier: %s", message.get("message"))
            self._check_done()

    def _check_done(self) -> None:
        if all(t.finished or (t.image_id is None and t.status == "failed") for t in self._tracked):
            self._all_done.set()

    async def _upload_all(self, http: httpx.AsyncClient) -> None:
        gate = asyncio.Semaphore(self.options.concurrency)

        async def one(tracked: Tracked) -> None:
            async with gate:
                await self._upload(http, tracked)

        await asyncio.gather(*(one(t) for t in self._tracked))

    async def _upload(self, http: httpx.AsyncClient, tracked: Tracked) -> None:
        params = {"output_format": self.options.output_format}
        if self.options.background:
            params["background"] = self.options.background
        if self.options.model:
            params["model"] = self.options.model
        if self.options.foreground_estimation is not None:
            params["foreground_estimation"] = str(self.options.foreground_estimation).lower()
        content_type = mimetypes.guess_type(tracked.path.name)[0] or "application/octet-stream"
        try:
            response = await http.post(
                "/v1/images",
                content=tracked.path.read_bytes(),
                params=params,
                headers={"Content-Type": content_type},
            )
        except httpx.HTTPError as exc:
            tracked.status, tracked.error = "failed", f"upload failed: {exc}"
            self.on_change(tracked)
            return
        if response.status_code != 202:
            tracked.status, tracked.error = "failed", error_text(response)
            self.on_change(tracked)
            return
        body = response.json()
        tracked.image_id, tracked.task_id = body["id"], body.get("task_id")
        tracked.trace_id = response.headers.get("x-trace-id")
        tracked.status = "queued"
        self.by_id[tracked.image_id] = tracked
        for message in self._early.pop(tracked.image_id, []):
            apply_message(tracked, message)
        self.on_change(tracked)

    async def _download_all(self, http: httpx.AsyncClient) -> None:
        out_dir = self.options.out_dir
        assert out_dir is not None
        out_dir.mkdir(parents=True, exist_ok=True)
        for tracked in self._tracked:
            if tracked.status != "completed" or tracked.image_id is None:
                continue
            url = tracked.cutout_url or f"/v1/images/{tracked.image_id}/result?kind=cutout"
            # The notifier pushes a completion only once the read model has it, so the
            # result is there: no retry.
            response = await http.get(url, follow_redirects=True)
            if response.status_code != 200:
                tracked.status, tracked.error = "failed", f"download: {error_text(response)}"
                self.on_change(tracked)
                continue
            target = self.options.target(tracked)
            try:
                save(target, response.content, overwrite=self.options.overwrite)
            except FileExistsError:
                tracked.status = "failed"
                tracked.error = f"not saved: {target} exists (--overwrite replaces it)"
            else:
                tracked.saved_to = target
            self.on_change(tracked)


def save(target: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``target`` whole or not at all; `FileExistsError` when the file is
    there and ``overwrite`` is false."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        with target.open("xb") as out:
            out.write(data)
        return
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}"
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"
