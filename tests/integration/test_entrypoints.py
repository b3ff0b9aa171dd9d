"""Every entrypoint treats --help as help (it starts nothing), and a service whose port is
taken says so in one sentence naming the setting that moves it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

HELP = [
    ["-m", "services.processor", "--help"],
    ["-m", "services.notifier", "--help"],
    ["-m", "services.webhooks", "--help"],
    ["-m", "services.cli.main", "webhooks", "serve", "--help"],
    *(
        ["-m", "services.cli.main", command, "--help"]
        for command in ("upload", "projector", "processor", "notifier", "submit", "fetch", "logs")
    ),
]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("args", HELP, ids=lambda a: " ".join(a[1:]))
def test_help_prints_usage_and_starts_nothing(args: list[str]) -> None:
    done = _run(args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Usage:" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "setting"),
    [
        (["-m", "services.notifier"], "CLEARCUT_NOTIFIER_PORT"),
        (["-m", "services.processor"], "CLEARCUT_PROCESSOR_WEB_PORT"),
        (["-m", "services.cli.main", "notifier"], "CLEARCUT_NOTIFIER_PORT"),
        (["-m", "services.cli.main", "processor"], "CLEARCUT_PROCESSOR_WEB_PORT"),
        (["-m", "services.cli.main", "upload"], "CLEARCUT_UPLOAD_PORT"),
        (["-m", "services.cli.main", "projector"], "CLEARCUT_UPLOAD_PROJECTOR_METRICS_PORT"),
        (["-m", "services.webhooks"], "CLEARCUT_WEBHOOKS_PORT"),
        (["-m", "services.cli.main", "webhooks", "serve"], "CLEARCUT_WEBHOOKS_PORT"),
    ],
    ids=lambda v: " ".join(v[1:]) if isinstance(v, list) else v,
)
def test_a_taken_port_is_one_sentence_naming_its_setting(
    taken_port: int, args: list[str], setting: str
) -> None:
    done = _run(args, {setting: str(taken_port)})
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert f"127.0.0.1:{taken_port} is already in use" in line
    assert f"{setting}=<another port>" in line
