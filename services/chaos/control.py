"""How the suite acts on the pipeline: the project's own commands, and SIGKILL by pid file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

from services.common.settings import CommonSettings
from services.devstack.process import pid_alive, wait_until
from services.devstack.stack import components
from services.run.processes import SERVICE_NAMES, services

COMMAND_TIMEOUT_S = 600


class ControlError(RuntimeError):
    """A command of the project failed; the message carries its output."""


async def clearcut(*args: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``clearcut ARGS`` in this environment (plus ``env``); raise if it fails."""

    def call() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            env={**os.environ, **(env or {})},
            check=False,
        )

    done = await asyncio.to_thread(call)
    if done.returncode != 0:
        raise ControlError(f"clearcut {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def sigkill(settings: CommonSettings, name: str) -> int:
    """SIGKILL a service or a stack component (its whole process group); return its pid."""
    if name in SERVICE_NAMES:
        (service,) = services(settings, [name])
        pid = service.process.pid()
    else:
        (component, *_) = components(settings, [name])
        pid = component.process.pid()
    if pid is None:
        raise ControlError(f"{name} is not running, so it cannot be killed")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 10)
    return pid
