"""The services as real processes (`python -m services.cli.main <service>`), each on a port
of its own and on the topics of one test module's prefix, with its output in a log file.
`Services` is the four of them for one module; `running()` starts, awaits and stops them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import REPO_ROOT, CommonSettings, TopicNames


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    def __init__(
        self, command: str, log_dir: Path, env: dict[str, str], ready_url: str | None = None
    ) -> None:
        self.command = command
        self.log = log_dir / f"{command.replace(' ', '-')}-{time.monotonic_ns()}.log"
        self.env = {**os.environ, "CLEARCUT_OTEL_LOG_FORMAT": "text", **env}
        self.ready_url = ready_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", *self.command.split()],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, within: float = 300.0) -> None:
        if self.ready_url is None:
            return
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"{self.command} exited:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.ready_url)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.command} not ready within {within} s:\n{self.tail()}")

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


SERVICE_ORDER = ("upload", "projector", "processor", "notifier")


@dataclass
class Services:
    """upload, projector, processor and notifier of one test module: free ports, topics of
    the module's own prefix, consumer groups of their own, logs in one folder."""

    unique: str
    topics: TopicNames
    logs: Path
    upload_port: int
    notifier_port: int
    processor_port: int
    processes: dict[str, ServiceProcess]

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.upload_port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.notifier_port}/v1/ws"

    @property
    def processor_group(self) -> str:
        return self.processes["processor"].env["CLEARCUT_PROCESSOR_APP_ID"]

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def replace(self, name: str) -> ServiceProcess:
        """A new, not yet started process of the same service with the same settings, in
        place of the old one (which the caller has stopped): `running()` stops this one."""
        old = self.processes[name]
        self.processes[name] = ServiceProcess(name, self.logs, old.env, old.ready_url)
        return self.processes[name]


async def services_for(
    stack: CommonSettings,
    module: str,
    logs: Path,
    *,
    upload: dict[str, str] | None = None,
    projector: dict[str, str] | None = None,
    processor: dict[str, str] | None = None,
    notifier: dict[str, str] | None = None,
) -> Services:
    """The four services for `module`, on topics `test.e2e.<module>.<random>.` created here;
    each dict adds settings (environment variables) to that service's defaults."""
    unique = uuid.uuid4().hex[:10]
    topics = TopicNames(prefix=f"test.e2e.{module}.{unique}.", partitions=1)
    await create_topics(stack.kafka, project_topics(topics))
    ports = {name: free_port() for name in ("upload", "notifier", "processor")}
    env = {"CLEARCUT_TOPIC_PREFIX": topics.prefix}
    settings = {
        "upload": {"CLEARCUT_UPLOAD_PORT": str(ports["upload"]), **(upload or {})},
        "projector": {
            "CLEARCUT_UPLOAD_PROJECTOR_GROUP": f"tests-projector-{unique}",
            "CLEARCUT_UPLOAD_PROJECTOR_METRICS_PORT": "0",
            **(projector or {}),
        },
        "processor": {
            "CLEARCUT_PROCESSOR_APP_ID": f"tests-processor-{unique}",
            "CLEARCUT_PROCESSOR_WEB_PORT": str(ports["processor"]),
            "CLEARCUT_PROCESSOR_WARMUP_RUNS": "1",
            **(processor or {}),
        },
        "notifier": {
            "CLEARCUT_NOTIFIER_PORT": str(ports["notifier"]),
            "CLEARCUT_NOTIFIER_UPLOAD_PUBLIC_URL": f"http://127.0.0.1:{ports['upload']}",
            **(notifier or {}),
        },
    }
    ready = {
        "upload": f"http://127.0.0.1:{ports['upload']}/readyz",
        "projector": None,
        "processor": f"http://127.0.0.1:{ports['processor']}/readyz",
        "notifier": f"http://127.0.0.1:{ports['notifier']}/readyz",
    }
    processes = {
        name: ServiceProcess(name, logs, env | settings[name], ready[name])
        for name in SERVICE_ORDER
    }
    return Services(
        unique, topics, logs, ports["upload"], ports["notifier"], ports["processor"], processes
    )


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[Services]:
    """Start every service, wait until each is ready, and stop them all afterwards (the
    processes current then, so one replaced during the tests is the one stopped)."""
    try:
        for process in services.processes.values():
            process.start()
        for process in services.processes.values():
            await process.wait_ready()
        yield services
    finally:
        for process in services.processes.values():
            process.stop()
