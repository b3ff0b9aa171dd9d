"""The pipeline's own services as supervised background processes of the local machine."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.settings import CommonSettings
from services.devstack.component import Status
from services.devstack.process import ManagedProcess, StackError, port_open

# Start order: the read model first, so nothing the others do goes unrecorded.
SERVICE_NAMES = ("projector", "upload", "processor", "notifier", "webhooks")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    host: str
    port: int
    ready_path: str  # answers 200 once the service can do its work
    start_timeout: float = 120.0
    command: tuple[str, ...] = ()  # the `clearcut` arguments that run it; default: its name

    @property
    def arguments(self) -> tuple[str, ...]:
        return self.command or (self.name,)


def service_specs() -> list[ServiceSpec]:
    """Where each service listens, from its own settings (imported lazily: optional extras)."""
    from services.notifier.settings import NotifierSettings
    from services.processor.settings import ProcessorSettings
    from services.upload.settings import UploadSettings
    from services.webhooks.settings import WebhooksSettings

    upload, notifier, processor = UploadSettings(), NotifierSettings(), ProcessorSettings()
    webhooks = WebhooksSettings()
    return [
        ServiceSpec("projector", upload.host, upload.projector_metrics_port, "/metrics"),
        ServiceSpec("upload", upload.host, upload.port, "/readyz"),
        # Loads and warms the model before it reports ready.
        ServiceSpec("processor", processor.web_host, processor.web_port, "/readyz", 300.0),
        ServiceSpec("notifier", notifier.host, notifier.port, "/readyz"),
        ServiceSpec(
            "webhooks", webhooks.host, webhooks.port, "/readyz", command=("webhooks", "serve")
        ),
    ]


class ServiceProcess:
    """A service writes its log to ``logs/<name>.log`` itself, rotated by size; what it prints
    outside the log (a traceback before logging is set up) goes to ``logs/<name>.out``."""

    def __init__(self, spec: ServiceSpec, settings: CommonSettings) -> None:
        self.spec = spec
        home = settings.paths.home
        self._log_file = home / "logs" / f"{spec.name}.log"
        self.process = ManagedProcess(
            spec.name, home / "run" / f"{spec.name}.pid", home / "logs" / f"{spec.name}.out"
        )

    @property
    def url(self) -> str:
        return f"http://{self.spec.host}:{self.spec.port}"

    @property
    def log_file(self) -> Path:
        return self._log_file

    @property
    def output_file(self) -> Path:
        return self.process.log_file

    def ready(self) -> bool:
        try:
            response = httpx.get(self.url + self.spec.ready_path, timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def start(self) -> str:
        if self.process.pid() is not None:
            return "already running"
        if port_open(self.spec.host, self.spec.port):
            raise StackError(
                f"{self.spec.name}: port {self.spec.host}:{self.spec.port} is already taken by "
                "another process. Stop it, or move the service with its port setting."
            )
        self.process.start(
            [sys.executable, "-m", "services.cli.main", *self.spec.arguments],
            env={"CLEARCUT_OTEL_LOG_FILE": str(self._log_file)},
        )
        return "started"

    def wait_ready(self, deadline: float) -> None:
        while not self.ready():
            if self.process.pid() is None:
                raise self._failure("exited during start-up")
            if time.monotonic() >= deadline:
                raise self._failure("did not become ready in time")
            time.sleep(0.3)

    def stop(self) -> bool:
        return self.process.stop(timeout=30)

    def status(self) -> Status:
        pid = self.process.pid()
        return Status(
            name=self.spec.name,
            running=pid is not None,
            healthy=pid is not None and self.ready(),
            version="service",
            address=self.url + self.spec.ready_path,
            log=self.log_file,
            pid=pid,
        )

    def log_tail(self, lines: int) -> str:
        return ManagedProcess(self.spec.name, self.process.pid_file, self._log_file).log_tail(lines)

    def _failure(self, what: str) -> StackError:
        output = self.process.log_tail(10)
        printed = (
            ""
            if output == "(no log yet)" or not output.strip()
            else (f"\n--- {self.output_file} ---\n{output}")
        )
        return StackError(
            f"{self.spec.name} {what}. Log: {self.log_file}\n"
            f"--- last lines ---\n{self.log_tail(20)}{printed}"
        )


def services(settings: CommonSettings, only: list[str] | None = None) -> list[ServiceProcess]:
    return [
        ServiceProcess(spec, settings) for spec in service_specs() if not only or spec.name in only
    ]
