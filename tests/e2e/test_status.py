"""`clearcut status` against the real stack: Prometheus of the shared stack at its default
port, and services started here on ports of their own (or on ports where nothing listens, to
see the command say which are down rather than fail)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import REPO_ROOT, CommonSettings, TopicNames
from tests.e2e.processes import ServiceProcess, free_port, new_api_key
from tests.e2e.test_submit import photo

SERVICES = ("projector", "upload", "processor", "notifier")
PORT_VARIABLES = {
    "projector": "CLEARCUT_UPLOAD_PROJECTOR_METRICS_PORT",
    "upload": "CLEARCUT_UPLOAD_PORT",
    "processor": "CLEARCUT_PROCESSOR_WEB_PORT",
    "notifier": "CLEARCUT_NOTIFIER_PORT",
}


def _nowhere() -> dict[str, str]:
    """Every service on a port where nothing listens."""
    return {variable: str(free_port()) for variable in PORT_VARIABLES.values()}


def _env(extra: dict[str, str]) -> dict[str, str]:
    # Wide enough that no table cell is cut; plain text.
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", **extra}


def status(extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "status", *args],
        cwd=REPO_ROOT,
        env=_env(extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _row(out: str, first: str) -> str:
    """The table row whose first cell is ``first``."""
    pattern = re.compile(rf"\W*{re.escape(first)}\s*│")
    (line,) = [line for line in out.splitlines() if pattern.match(line)]
    return line


def test_with_no_service_running_it_names_each_one_down(stack: CommonSettings) -> None:
    env = _nowhere()
    done = status(env)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"Figures from Prometheus at {stack.prometheus.url}." in out
    assert "Not ready: projector, upload, processor, notifier." in out
    assert "No alert is firing." in out or "Alerts firing: Clearcut" in out
    for name in SERVICES:
        row = _row(out, name)
        assert "down: connection refused" in row, row
        assert f"127.0.0.1:{env[PORT_VARIABLES[name]]}" in row, row
    for figure in ("uploads accepted (per second)", "task latency p99", "processor lag"):
        assert figure in out
    assert done.stderr == ""


def test_without_prometheus_it_says_so_and_reads_the_services(stack: CommonSettings) -> None:
    env = _nowhere() | {"CLEARCUT_PROMETHEUS_PORT": str(free_port())}
    done = status(env)
    assert done.returncode == 1
    out = done.stdout
    assert "does not answer (down: connection refused)" in out
    assert "figures from the services' own /metrics" in out
    assert "since each service started" in out
    assert "no data" in _row(out, "uploads accepted (total)")
    assert "in Prometheus" not in out


@dataclass
class Upload:
    url: str
    key: str
    env: dict[str, str]  # what `clearcut status` needs to find it (and nothing else)


@pytest.fixture(scope="module")
async def upload(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Upload]:
    unique = uuid.uuid4().hex[:10]
    topics = TopicNames(prefix=f"test.e2e.status.{unique}.", partitions=1)
    await create_topics(stack.kafka, project_topics(topics))
    key = await new_api_key(stack, f"status-{unique}")
    env = _nowhere()
    port = env["CLEARCUT_UPLOAD_PORT"]
    service = ServiceProcess(
        "upload",
        tmp_path_factory.mktemp("status"),
        {"CLEARCUT_TOPIC_PREFIX": topics.prefix, "CLEARCUT_UPLOAD_PORT": port},
        f"http://127.0.0.1:{port}/readyz",
    )
    service.start()
    try:
        await service.wait_ready()
        yield Upload(f"http://127.0.0.1:{port}", key, env)
    finally:
        service.stop()


async def test_a_running_service_is_ready_and_its_uploads_are_counted(upload: Upload) -> None:
    headers = {"Authorization": f"Bearer {upload.key}", "Content-Type": "image/jpeg"}
    async with httpx.AsyncClient(base_url=upload.url, timeout=30) as api:
        for _ in range(2):
            accepted = await api.post("/v1/images", content=photo(), headers=headers)
            assert accepted.status_code == 202, accepted.text
    env = upload.env | {"CLEARCUT_PROMETHEUS_PORT": str(free_port())}
    done = status(env)
    out = done.stdout
    assert done.returncode == 1, out  # the three others are down
    assert "ready" in _row(out, "upload") and "down" not in _row(out, "upload")
    assert "Not ready: projector, processor, notifier." in out
    assert re.search(r"\b2\b", _row(out, "uploads accepted (total)")), out


def test_watch_refreshes_until_interrupted(upload: Upload) -> None:
    env = upload.env | {"CLEARCUT_PROMETHEUS_PORT": str(free_port())}
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "status", "--watch", "--interval", "0.5"],
        cwd=REPO_ROOT,
        env=_env(env) | {"TERM": "xterm"},
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    screen = b""
    try:
        deadline = time.monotonic() + 30
        # The first screen shows totals; each refresh after it, rates over the interval.
        while b"uploads accepted (per second)" not in screen:
            assert time.monotonic() < deadline, screen.decode(errors="replace")[-2000:]
            if select.select([controller], [], [], 1)[0]:
                screen += os.read(controller, 65536)
        assert screen.index(b"uploads accepted (total)") < screen.index(b"(per second)")
        assert re.search(rb"last [0-9.]+ s \(services' /metrics\)", screen)
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(controller)


def test_status_is_reachable_from_the_cli_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "--help"],
        cwd=Path(REPO_ROOT),
        env=_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert re.search(r"\bstatus\b", done.stdout)


def test_a_server_that_is_not_prometheus_is_not_taken_for_one(upload: Upload) -> None:
    done = status(upload.env, "--prometheus", upload.url)
    out = done.stdout
    assert f"Prometheus at {upload.url} does not answer (HTTP 404" in out
    assert "not Prometheus's API" in out
    assert "figures from the services' own /metrics" in out
