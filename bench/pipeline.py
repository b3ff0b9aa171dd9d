"""The pipeline a bench runs against: the services of ``clearcut up`` on this machine.

Starts what is not running, stops and starts single services (the processor, for the
ingest and scale scenarios), runs extra processor processes with settings of their own,
waits for the processor's consumer group to be idle or complete, and issues the bench's
own API key so that its images and events are apart from everyone else's.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.client import BenchError
from services.common.kafka.offsets import GroupOffsets, describe_group
from services.common.settings import CommonSettings
from services.devstack.process import ManagedProcess, StackError
from services.devstack.stack import components
from services.run.processes import ServiceProcess, services
from services.upload.adapters.api_keys import KeySettings, KeyStore

REPO = Path(__file__).resolve().parents[1]
BENCH_OWNER = "bench"
EXTRA_PROCESSOR = "bench-processor"


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    ws_url: str


class Pipeline:
    def __init__(self, settings: CommonSettings, say: Callable[[str], None]) -> None:
        from services.notifier.settings import NotifierSettings
        from services.processor.settings import ProcessorSettings
        from services.upload.settings import UploadSettings

        self.settings = settings
        self.say = say
        upload, notifier = UploadSettings(), NotifierSettings()
        self.endpoints = Endpoints(
            f"http://{upload.host}:{upload.port}", f"ws://{notifier.host}:{notifier.port}/v1/ws"
        )
        self.processor_group = ProcessorSettings().app_id

    # -- services -----------------------------------------------------------------------

    def service(self, name: str) -> ServiceProcess:
        (found,) = services(self.settings, [name])
        return found

    def ensure_up(self) -> None:
        """``clearcut up`` unless every service already answers ready."""
        if all(s.ready() for s in services(self.settings)):
            return
        self.say("starting the pipeline (clearcut up)")
        result = subprocess.run(
            [sys.executable, "-m", "services.cli.main", "up"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise BenchError(f"clearcut up failed:\n{tail}")

    def stop_service(self, name: str) -> None:
        self.service(name).stop()

    def start_service(self, name: str) -> None:
        service = self.service(name)
        try:
            service.start()
            service.wait_ready(time.monotonic() + service.spec.start_timeout)
        except StackError as exc:
            raise BenchError(str(exc)) from exc

    def service_pid(self, name: str) -> int | None:
        return self.service(name).process.pid()

    def roots(self) -> dict[str, set[int]]:
        """Pids of the pipeline's services, extra processors and the stack, by name."""
        roots: dict[str, set[int]] = {}
        for service in services(self.settings):
            if (pid := service.process.pid()) is not None:
                roots[service.spec.name] = {pid}
        for pid_file in (self.settings.paths.home / "run").glob(f"{EXTRA_PROCESSOR}-*.pid"):
            extra = ManagedProcess(pid_file.stem, pid_file, pid_file.with_suffix(".log")).pid()
            if extra is not None:
                roots[pid_file.stem] = {extra}
        for component in components(self.settings):
            if (pid := component.process.pid()) is not None:
                roots[component.name] = {pid}
        return roots

    # -- the processor's consumer group -------------------------------------------------

    async def processor_offsets(self) -> GroupOffsets:
        return await describe_group(
            self.settings.kafka, self.processor_group, [self.settings.topics.uploaded]
        )

    async def wait_drained(self, within: float) -> int:
        """Wait until the processors have committed every upload; the lag left at the end."""
        deadline = time.monotonic() + within
        while True:
            lag = (await self.processor_offsets()).total_lag
            if lag == 0 or time.monotonic() >= deadline:
                return lag
            await asyncio.sleep(1.0)

    async def wait_members(self, count: int, within: float) -> GroupOffsets:
        """Wait until the processor group is stable with ``count`` members."""
        deadline = time.monotonic() + within
        while True:
            offsets = await self.processor_offsets()
            if offsets.state == "Stable" and len(offsets.members) == count:
                return offsets
            if time.monotonic() >= deadline:
                raise BenchError(
                    f"the processor group is {offsets.state} with {len(offsets.members)} "
                    f"members, expected {count} stable, after {within:.0f} s"
                )
            await asyncio.sleep(0.5)

    # -- the bench's own owner ------------------------------------------------------------

    @asynccontextmanager
    async def owner_key(self) -> AsyncIterator[str]:
        """A fresh API key of the owner ``bench`` without rate or concurrency limits (a
        burst sends every upload at once), deleted afterwards."""
        conn = await asyncpg.connect(self.settings.postgres.dsn)
        try:
            unlimited = KeySettings(label="bench", rate_per_minute=0, max_concurrent=0)
            key, info = await KeyStore(conn).create(BENCH_OWNER, unlimited)
            try:
                yield key
            finally:
                await conn.execute("DELETE FROM api_keys WHERE id = $1", info.id)
        finally:
            await conn.close()


class ExtraProcessor:
    """One more processor process, with its own web port, worker id and thread settings."""

    def __init__(
        self,
        settings: CommonSettings,
        index: int,
        threads: int,
        port: int,
        env: dict[str, str] | None = None,
    ) -> None:
        name = f"{EXTRA_PROCESSOR}-{index}"
        self.env = env or {}
        home = settings.paths.home
        self.worker_id = f"bench-scale-{index}"
        self.port = port
        self.threads = threads
        self.process = ManagedProcess(
            name, home / "run" / f"{name}.pid", home / "logs" / f"{name}.log"
        )

    def start(self) -> None:
        self.process.start(
            [sys.executable, "-m", "services.cli.main", "processor"],
            env={
                "CLEARCUT_PROCESSOR_INTRA_OP_THREADS": str(self.threads),
                "CLEARCUT_PROCESSOR_WEB_PORT": str(self.port),
                "CLEARCUT_PROCESSOR_WORKER_ID": self.worker_id,
                **self.env,
            },
            cwd=REPO,
        )

    def ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        while not self.ready():
            if self.process.pid() is None:
                raise BenchError(
                    f"{self.worker_id} exited during start-up. Log: {self.process.log_file}\n"
                    + self.process.log_tail(15)
                )
            if time.monotonic() >= deadline:
                raise BenchError(f"{self.worker_id} not ready after {within:.0f} s")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.stop(timeout=60)
