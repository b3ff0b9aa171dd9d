"""The services as real processes (`python -m services.cli.main <service>`), each on a port
of its own and on the topics of one test module's prefix, with its output in a log file.
`services_for()` builds the `Services` of one module (by default upload, projector,
processor and notifier; webhooks too on request); `running()` starts, awaits and stops them."""

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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.auth import create_key
from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import REPO_ROOT, CommonSettings, TopicNames
from services.upload.adapters.postgres import connect as connect_postgres


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
"""The services `services_for` starts unless told otherwise; "webhooks" may be added."""
COMMANDS = {"webhooks": "webhooks serve"}  # the CLI command of a service, where not its name
PORT_SETTINGS = {
    "upload": "CLEARCUT_UPLOAD_PORT",
    "processor": "CLEARCUT_PROCESSOR_WEB_PORT",
    "notifier": "CLEARCUT_NOTIFIER_PORT",
    "webhooks": "CLEARCUT_WEBHOOKS_PORT",
}  # the projector serves nothing a test waits on


@dataclass
class Services:
    """The services of one test module: free ports, topics of the module's own prefix,
    consumer groups of their own, logs in one folder."""

    unique: str
    topics: TopicNames
    logs: Path
    ports: dict[str, int]
    processes: dict[str, ServiceProcess]

    @property
    def upload_port(self) -> int:
        return self.ports["upload"]

    @property
    def notifier_port(self) -> int:
        return self.ports["notifier"]

    @property
    def processor_port(self) -> int:
        return self.ports["processor"]

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

    def replace(self, name: str, env: dict[str, str] | None = None) -> ServiceProcess:
        """A new, not yet started process of the same service with the same settings (or
        with ``env`` instead), in place of the old one (which the caller has stopped):
        `running()` stops this one."""
        old = self.processes[name]
        self.processes[name] = ServiceProcess(
            old.command, self.logs, old.env if env is None else env, old.ready_url
        )
        return self.processes[name]

    def another(self, name: str, settings: dict[str, str]) -> ServiceProcess:
        """A second, not yet started process of service ``name`` on a free port of its own,
        with that service's settings and ``settings`` on top; the caller starts and stops
        it (`running()` does not know it)."""
        old = self.processes[name]
        port = free_port()
        env = old.env | {PORT_SETTINGS[name]: str(port)} | settings
        return ServiceProcess(old.command, self.logs, env, f"http://127.0.0.1:{port}/readyz")


async def services_for(
    stack: CommonSettings,
    module: str,
    logs: Path,
    *,
    names: Sequence[str] = SERVICE_ORDER,
    partitions: int = 1,
    common: dict[str, str] | None = None,
    upload: dict[str, str] | None = None,
    projector: dict[str, str] | None = None,
    processor: dict[str, str] | None = None,
    notifier: dict[str, str] | None = None,
    webhooks: dict[str, str] | None = None,
) -> Services:
    """The services ``names`` for `module` (not started), on topics
    `test.e2e.<module>.<random>.` of ``partitions`` partitions created here. ``common`` adds
    settings (environment variables) to every service; each per-service dict adds them to
    that service's defaults, and wins over ``common``."""
    unique = uuid.uuid4().hex[:10]
    topics = TopicNames(prefix=f"test.e2e.{module}.{unique}.", partitions=partitions)
    await create_topics(stack.kafka, project_topics(topics))
    ports = {name: free_port() for name in PORT_SETTINGS}
    api = f"http://127.0.0.1:{ports['upload']}"
    env = {"CLEARCUT_TOPIC_PREFIX": topics.prefix, **(common or {})}
    settings = {
        "upload": upload or {},
        "projector": {
            "CLEARCUT_UPLOAD_PROJECTOR_GROUP": f"tests-projector-{unique}",
            "CLEARCUT_UPLOAD_PROJECTOR_METRICS_PORT": "0",
            **(projector or {}),
        },
        "processor": {
            "CLEARCUT_PROCESSOR_APP_ID": f"tests-processor-{unique}",
            "CLEARCUT_PROCESSOR_WARMUP_RUNS": "1",
            **(processor or {}),
        },
        "notifier": {"CLEARCUT_NOTIFIER_UPLOAD_PUBLIC_URL": api, **(notifier or {})},
        "webhooks": {
            "CLEARCUT_WEBHOOKS_GROUP": f"tests-webhooks-{unique}",
            "CLEARCUT_WEBHOOKS_UPLOAD_PUBLIC_URL": api,
            **(webhooks or {}),
        },
    }
    processes = {}
    for name in names:
        port = {PORT_SETTINGS[name]: str(ports[name])} if name in PORT_SETTINGS else {}
        ready = f"http://127.0.0.1:{ports[name]}/readyz" if name in PORT_SETTINGS else None
        command = COMMANDS.get(name, name)
        processes[name] = ServiceProcess(command, logs, env | port | settings[name], ready)
    return Services(unique, topics, logs, ports, processes)


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


async def new_api_key(stack: CommonSettings, owner: str) -> str:
    """A new API key for ``owner`` (with the default scopes and limits), printed nowhere."""
    conn = await connect_postgres(stack.postgres)
    try:
        return await create_key(conn, owner)
    finally:
        await conn.close()
