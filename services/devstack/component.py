"""The life cycle every component of the local stack shares: install, prepare, start, wait."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import CommonSettings
from services.devstack.process import ManagedProcess, StackError, port_open, wait_until

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Status:
    name: str
    running: bool
    healthy: bool
    version: str
    address: str
    log: Path
    pid: int | None = None


class Component(ABC):
    """One infrastructure server run from the project's state directory."""

    name: str
    # Components started together and named together on the command line (Kafka's nodes).
    group: str = ""
    start_timeout: float = 90.0

    def __init__(self, settings: CommonSettings) -> None:
        self.group = self.group or self.name
        self.settings = settings
        self.home = settings.paths.home
        self.data_dir = self.home / self.name
        self.log_dir = self.home / "logs"
        self.cache_dir = settings.paths.cache_dir

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess(
            self.name, self.home / "run" / f"{self.name}.pid", self.log_dir / f"{self.name}.log"
        )

    # What each component supplies.
    @abstractmethod
    def ports(self) -> list[int]:
        """Ports this component listens on, on 127.0.0.1-style hosts from settings."""

    @property
    @abstractmethod
    def host(self) -> str: ...

    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def install(self) -> None:
        """Fetch or build whatever is missing; a no-op when everything is present."""

    @abstractmethod
    def healthy(self) -> bool:
        """Does the running server answer a real request?"""

    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def launch(self) -> None:
        """Start the server in the background (data already prepared)."""

    def prepare(self) -> None:
        """One-time initialisation of the data directory (formatting, initdb)."""
        return None

    def after_start(self) -> None:
        """Create what the project needs inside the server (buckets, roles); idempotent."""
        return None

    # The shared life cycle.
    def up(self) -> str:
        """Start if needed; return a short description of what happened."""
        outcome = self.begin()
        self.finish(outcome)
        return outcome

    def begin(self) -> str:
        """Launch unless running, without waiting: ``started`` or ``already running``.

        The nodes of a cluster are all launched before any is waited for, since none is
        ready before a quorum of them runs."""
        self.install()
        if self.process.pid() is not None:
            return "already running"
        self._refuse_taken_ports()
        self.prepare()
        self.launch()
        return "started"

    def finish(self, outcome: str) -> None:
        """Wait until the component answers, then create what the project needs in it."""
        if outcome == "already running":
            if not wait_until(self.healthy, self.start_timeout):
                raise self._failure("is running but does not answer")
        else:
            self._wait_ready()
        self.after_start()

    def down(self) -> bool:
        return self.process.stop()

    def status(self) -> Status:
        pid = self.process.pid()
        healthy = pid is not None and _safe(self.healthy)
        return Status(
            name=self.name,
            running=pid is not None,
            healthy=healthy,
            version=_safe_str(self.version),
            address=self.address(),
            log=self.process.log_file,
            pid=pid,
        )

    def _refuse_taken_ports(self) -> None:
        taken = [p for p in self.ports() if port_open(self.host, p)]
        if taken:
            ports = ", ".join(f"{self.host}:{p}" for p in taken)
            raise StackError(
                f"{self.name}: port {ports} is already taken by another process (not ours). "
                f"Stop that process, or move {self.name} to free ports with the settings "
                f"(see README, 'Settings')."
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not _safe(self.healthy):
            if self.process.pid() is None:
                raise self._failure("exited during start-up")
            if time.monotonic() >= deadline:
                raise self._failure(f"was not ready within {self.start_timeout:.0f} s")
            time.sleep(0.25)

    def _failure(self, what: str) -> StackError:
        return StackError(
            f"{self.name} {what}. Log: {self.process.log_file}\n"
            f"--- last lines ---\n{self.process.log_tail()}"
        )


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # noqa: BLE001 - a probe that raises means "not healthy"
        return False


def _safe_str(get: Callable[[], str]) -> str:
    try:
        return str(get())
    except Exception:  # noqa: BLE001 - status reporting must never crash
        return "unknown"
