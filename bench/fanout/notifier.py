"""The notifier under test: a process of its own, its memory, CPU and metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.conditions import free_port, resident_kib
from bench.pipeline import REPO


@dataclass
class NotifierProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def rss_kib(self) -> int:
        return resident_kib(self.process.pid)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_wait_seconds(self) -> float:
        """Time the main (event-loop) thread was runnable but waiting for a CPU."""
        return int(Path(f"/proc/{self.process.pid}/schedstat").read_text().split()[1]) / 1e9

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=10).text

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_notifier(prefix: str, log: Path) -> NotifierProcess:
    port = free_port()
    env = dict(os.environ)
    env.update(
        CLEARCUT_TOPIC_PREFIX=prefix,
        CLEARCUT_NOTIFIER_PORT=str(port),
        CLEARCUT_NOTIFIER_MAX_CONNECTIONS_PER_OWNER="100000",
        CLEARCUT_NOTIFIER_PG_POOL_MAX="10",
        CLEARCUT_OTEL_LOG_FORMAT="text",
        CLEARCUT_OTEL_LOG_LEVEL="WARNING",
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.notifier"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    notifier = NotifierProcess(process, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"notifier exited; see {log}")
        try:
            if httpx.get(f"{notifier.url}/readyz", timeout=2).status_code == 200:
                return notifier
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    notifier.stop()
    raise RuntimeError(f"notifier not ready; see {log}")


def metric(text: str, name: str) -> float:
    """A metric's value in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def histogram_quantile(text: str, name: str, q: float) -> float | None:
    """Upper bound of the bucket holding quantile ``q`` (what Prometheus would interpolate)."""
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            label = line.split('le="')[1].split('"')[0]
            buckets.append(
                (float("inf") if label == "+Inf" else float(label), float(line.split()[-1]))
            )
    if not buckets or buckets[-1][1] == 0:
        return None
    total = max(count for _, count in buckets)
    for bound, count in sorted(buckets):
        if count >= q * total:
            return bound
    return None
