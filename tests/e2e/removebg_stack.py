"""The upload API, the projector and a real processor as processes on topics of their own,
with `image_url` enabled for local servers, and a local HTTP server of photos: what the
remove.bg tests and the load check run against."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from services.common.auth import create_key
from services.common.settings import CommonSettings
from services.upload.adapters.postgres import connect as pg_connect
from services.upload.migrations.runner import migrate
from tests.e2e.processes import Services, running, services_for


def photo(size: int = 512) -> bytes:
    """The astronaut, with a random corner: new bytes every time, so no earlier result is
    reused and every request runs the model."""
    pixels = np.array(Image.fromarray(data.astronaut()).resize((size, size)))  # type: ignore[no-untyped-call]
    pixels[:4, :4] = np.random.default_rng().integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class PhotoServer:
    """Serves ``files`` by path; `/redirect?to=PATH` answers 302 to it."""

    files: dict[str, bytes] = field(default_factory=dict)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path.split("=", 1)[1])
                    self.end_headers()
                    return
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class RemoveBgDeployment:
    api: str
    owner: str
    key: str
    photos: PhotoServer
    services: Services


@contextlib.asynccontextmanager
async def removebg_deployment(
    stack: CommonSettings, logs: Path, upload_env: dict[str, str] | None = None
) -> AsyncIterator[RemoveBgDeployment]:
    services = await services_for(
        stack,
        "removebg",
        logs,
        names=("upload", "projector", "processor"),
        partitions=2,
        upload={
            "CLEARCUT_UPLOAD_REMOVEBG_IMAGE_URL": "true",
            "CLEARCUT_UPLOAD_REMOVEBG_IMAGE_URL_ALLOW_PRIVATE": "true",
            **(upload_env or {}),
        },
    )
    owner = f"removebg-{services.unique}"
    conn = await pg_connect(stack.postgres)
    try:
        await migrate(conn)
        key = await create_key(conn, owner)
    finally:
        await conn.close()
    photos = PhotoServer()
    photos.start()
    try:
        async with running(services):
            yield RemoveBgDeployment(services.api, owner, key, photos, services)
    finally:
        photos.stop()
