"""The upload API as a real process (`python -m services.cli.upload upload`), started once per
module, on a free port and on topics of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class LiveServer:
    url: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``python -m services.cli.upload ARGS`` and return its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.upload", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed: {done.stdout}{done.stderr}")
    return done.stdout


@contextmanager
def live_server(log_dir: Path, env: dict[str, str], within: float = 60.0) -> Iterator[LiveServer]:
    port = free_port()
    log = log_dir / f"upload-{port}.log"
    environment = {
        **os.environ,
        "CLEARCUT_UPLOAD_HOST": "127.0.0.1",
        "CLEARCUT_UPLOAD_PORT": str(port),
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.upload", "upload"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + within
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the upload API exited early; see {log}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the upload API did not get ready in {within} s; see {log}")
            time.sleep(0.1)
        yield LiveServer(url, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
