"""The conditions of a run on a shared machine: the machine, its load, and who else used it.

``LoadSampler`` reads ``/proc`` every couple of seconds while a scenario runs and charges
each process's CPU time to a category: the bench itself (and everything it started), each
of the pipeline's services and of the stack's components (Kafka, MinIO, PostgreSQL,
Jaeger) by name, or ``other`` — work that is not ours and competes for the same cores. The
pure functions below turn the samples into a report.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROC = Path("/proc")
BENCH, OTHER = "bench", "other"
# Other processes below this share of one core are not named in the report.
NAMED_ABOVE_PERCENT = 5.0


# -- pure -----------------------------------------------------------------------------------


def shorten_command(argv: list[str], limit: int = 70) -> str:
    """A readable name for a process: the program's base name and its arguments."""
    if not argv:
        return "?"
    words = [Path(argv[0]).name, *argv[1:]]
    text = " ".join(words)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def categorise(parents: Mapping[int, int], roots: Mapping[str, set[int]]) -> dict[int, str]:
    """Each pid's category: that of its nearest ancestor (or itself) among ``roots``."""
    owner: dict[int, str] = {}
    for category, pids in roots.items():
        for pid in pids:
            owner[pid] = category
    found: dict[int, str] = {}
    for pid in parents:
        chain: list[int] = []
        current: int | None = pid
        category = OTHER
        while current is not None and current > 1 and len(chain) < 64:
            if current in found:
                category = found[current]
                break
            if current in owner:
                category = owner[current]
                break
            chain.append(current)
            current = parents.get(current)
        for member in chain:
            found[member] = category
        found[pid] = category
    return found


@dataclass
class CpuTally:
    """CPU seconds charged per (category, command) over a run."""

    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, category: str, command: str, cpu_seconds: float) -> None:
        key = (category, command)
        self.seconds[key] = self.seconds.get(key, 0.0) + max(cpu_seconds, 0.0)

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for (category, _), value in self.seconds.items():
            totals[category] = totals.get(category, 0.0) + value
        return totals


def load_report(loads: list[float], tally: CpuTally, wall_seconds: float) -> dict[str, Any]:
    """Load average figures and CPU use per category (largest first), in % of one core over
    the run."""
    if not loads or wall_seconds <= 0:
        return {}
    percent = {k: 100.0 * v / wall_seconds for k, v in tally.by_category().items()}
    others = sorted(
        (
            (100.0 * value / wall_seconds, command)
            for (category, command), value in tally.seconds.items()
            if category == OTHER
        ),
        reverse=True,
    )
    return {
        "load": {
            "start": loads[0],
            "end": loads[-1],
            "mean": sum(loads) / len(loads),
            "max": max(loads),
            "samples": len(loads),
        },
        "cpu_percent": {
            category: round(share, 1)
            for category, share in sorted(percent.items(), key=lambda item: -item[1])
        },
        "others_cpu_percent": round(percent.get(OTHER, 0.0), 1),
        "alongside": [
            {"command": command, "cpu_percent": round(share, 1)}
            for share, command in others[:6]
            if share >= NAMED_ABOVE_PERCENT
        ],
    }


# -- reading the machine --------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessSample:
    parent: int
    started: int  # start time in clock ticks after boot: with the pid, the process's identity
    ticks: int  # user + system CPU, in clock ticks
    command: str


def read_processes() -> dict[int, ProcessSample]:
    """Every user-space process now: parent, CPU ticks so far, short command."""
    found: dict[int, ProcessSample] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        words = [w.decode(errors="replace") for w in argv if w]
        if not words:  # a kernel thread
            continue
        found[int(entry.name)] = ProcessSample(
            parent=int(fields[1]),
            started=int(fields[19]),
            ticks=int(fields[11]) + int(fields[12]),
            command=shorten_command(words),
        )
    return found


def load_average() -> float:
    return float((PROC / "loadavg").read_text().split()[0])


def resident_kib(pid: int) -> int:
    """A process's resident memory now (``VmRSS``), in KiB."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"process {pid} reports no VmRSS")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LoadSampler:
    """Samples the load average and every process's CPU while a scenario runs."""

    def __init__(self, roots: Callable[[], dict[str, set[int]]], interval: float = 2.0) -> None:
        self._roots = roots
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-load", daemon=True)
        self._loads: list[float] = []
        self._tally = CpuTally()
        self._last: dict[int, ProcessSample] = {}
        self._started = 0.0
        self._hz = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> LoadSampler:
        self._started = time.monotonic()
        self._last = read_processes()
        self._loads.append(load_average())
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def report(self) -> dict[str, Any]:
        return load_report(self._loads, self._tally, time.monotonic() - self._started)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        now = read_processes()
        try:
            roots = self._roots()
        except Exception:  # noqa: BLE001 - a failed lookup must not stop the measurement
            roots = {}
        roots.setdefault(BENCH, set()).add(os.getpid())
        categories = categorise({pid: p.parent for pid, p in now.items()}, roots)
        for pid, sample in now.items():
            before = self._last.get(pid)
            if before is None or before.started != sample.started:
                delta = sample.ticks  # started since the last sample: all of its CPU is new
            else:
                delta = sample.ticks - before.ticks
            self._tally.add(categories.get(pid, OTHER), sample.command, delta / self._hz)
        self._last = now
        self._loads.append(load_average())


# -- the machine ----------------------------------------------------------------------------


def describe_machine(repo: Path) -> dict[str, Any]:
    """CPU, cores, memory, kernel, Python, ONNX Runtime and the commit the code is at."""
    cpu_model = "unknown CPU"
    for line in (PROC / "cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in (PROC / "meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    machine: dict[str, Any] = {
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": f"Linux {platform.release()}",
        "python": platform.python_version(),
    }
    try:
        import onnxruntime

        machine["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    machine.update(_git(repo))
    return machine


def _git(repo: Path) -> dict[str, Any]:
    def run(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=False, timeout=10
        )
        return result.stdout.strip()

    commit = run("rev-parse", "--short", "HEAD")
    if not commit:
        return {}
    return {"commit": commit, "uncommitted_changes": bool(run("status", "--porcelain"))}
