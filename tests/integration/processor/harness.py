"""Running real processor workers and talking to them the way other services do: originals
in MinIO, ImageUploaded on Kafka, events read back from the processing topics."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from minio import Minio
from PIL import Image, ImageOps

from schemas.events import (
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
    new_event_id,
    utc_now,
)
from services.common.envelope import decode
from services.common.kafka.consumer import consumer_config
from services.common.kafka.producer import EventPublisher
from services.common.settings import REPO_ROOT, CommonSettings, TopicNames

Outcome = ProcessingCompleted | ProcessingFailed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class WorkerProcess:
    """``python -m services.processor`` with its own topics prefix, group and port."""

    def __init__(self, topics: TopicNames, app_id: str, log: Path, **env: str) -> None:
        self.port = free_port()
        self.log = log
        self.env = {
            **os.environ,
            "CLEARCUT_TOPIC_PREFIX": topics.prefix,
            "CLEARCUT_PROCESSOR_APP_ID": app_id,
            "CLEARCUT_PROCESSOR_WEB_PORT": str(self.port),
            "CLEARCUT_PROCESSOR_WARMUP_RUNS": "1",
            "CLEARCUT_PROCESSOR_SESSION_TIMEOUT_S": "6",
            "CLEARCUT_OTEL_LOG_FORMAT": "text",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_peak_mb = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.processor"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, within: float = 300.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"worker exited: {self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise AssertionError(f"worker not ready within {within} s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def peak_memory_mb(self) -> float:
        """The worker's peak resident memory so far (VmHWM)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def metric(self, name: str) -> float:
        """The sum of a metric's samples in /metrics."""
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"{self.url}/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total


class EventLog:
    """Every processing event of the topics, by image id, read by a consumer of its own."""

    def __init__(self, settings: CommonSettings, topics: TopicNames) -> None:
        self._consumer = AIOKafkaConsumer(
            topics.started,
            topics.completed,
            topics.failed,
            **consumer_config(settings.kafka, None, f"tests-{uuid.uuid4().hex[:6]}"),
        )
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    event = decode(record.value, list(record.headers)).event
                    self.events[event.image_id].append(event)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def of(self, image_id: str, kind: type[Any]) -> list[Any]:
        return [e for e in self.events.get(image_id, []) if isinstance(e, kind)]

    async def outcome(self, image_id: str, within: float = 300.0) -> Outcome:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for event in self.events.get(image_id, []):
                if isinstance(event, ProcessingCompleted | ProcessingFailed):
                    return event
            await asyncio.sleep(0.1)
        raise AssertionError(f"no outcome for image {image_id} within {within} s")

    async def completed(self, image_id: str, within: float = 300.0) -> ProcessingCompleted:
        outcome = await self.outcome(image_id, within)
        assert isinstance(outcome, ProcessingCompleted), f"expected completion, got {outcome!r}"
        return outcome

    async def started(self, within: float = 300.0) -> ProcessingStarted:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for events in list(self.events.values()):
                for event in events:
                    if isinstance(event, ProcessingStarted):
                        return event
            await asyncio.sleep(0.05)
        raise AssertionError("no ProcessingStarted event")


class Uploader:
    """Stores originals and publishes ImageUploaded, as the upload service does."""

    def __init__(
        self, s3: Minio, settings: CommonSettings, producer: AIOKafkaProducer, topics: TopicNames
    ) -> None:
        self._s3 = s3
        self._settings = settings
        self._publisher = EventPublisher(producer, topics, "/clearcut/tests")
        self.run = uuid.uuid4().hex[:8]

    async def submit(self, data: bytes, name: str, **options: Any) -> ImageUploaded:
        upload = await self.store(data, name, **options)
        await self.publish(upload)
        return upload

    async def store(self, data: bytes, name: str, **options: Any) -> ImageUploaded:
        """The original stored and its event made, not yet published."""
        image_id = f"{name}-{uuid.uuid4().hex[:8]}"
        bucket = self._settings.s3.bucket_originals
        key = f"tests/{self.run}/{image_id}"
        await asyncio.to_thread(
            self._s3.put_object,
            bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type="application/octet-stream",
        )
        try:
            width, height = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size
        except OSError:
            width, height = 1, 1
        upload = ImageUploaded.model_validate(
            {
                "event_id": new_event_id(),
                "image_id": image_id,
                "owner": "tests",
                "occurred_at": utc_now(),
                "task_id": f"task-{uuid.uuid4().hex[:12]}",
                "original": {
                    "bucket": bucket,
                    "key": key,
                    "size": len(data),
                    "content_type": "image/png",
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "width": width,
                    "height": height,
                },
                "options": {"output_format": "png", "background": "transparent", **options},
            }
        )
        return upload

    async def publish(self, upload: ImageUploaded) -> None:
        await self._publisher.publish(upload)

    async def result(self, event: ProcessingCompleted, kind: str) -> bytes:
        (result,) = [r for r in event.results if r.kind == kind]

        def read() -> bytes:
            response = self._s3.get_object(result.bucket, result.key)
            try:
                data: bytes = response.read()
                return data
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)
