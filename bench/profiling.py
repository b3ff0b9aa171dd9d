"""Sampling profiles of the services while a scenario runs (py-spy), and their summary.

``Profiler`` attaches ``py-spy record --format raw`` (collapsed stacks) to each named
process without stopping it (``--nonblocking``), and stops it with SIGINT at the end so it
writes its file. ``hot_frames`` (pure) turns collapsed stacks into the functions that were
on the CPU most: self time (the innermost frame) and total time (anywhere in the stack).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True)
class HotFrame:
    frame: str
    self_share: float  # of all samples, 0-1
    total_share: float


_LINE = re.compile(r"^(.*) \((.*?):\d+\)$")


def function_of(frame: str) -> str:
    """``name (file.py:12)`` as ``name (file.py)``: a function, whichever line was running."""
    match = _LINE.match(frame)
    return f"{match.group(1)} ({match.group(2)})" if match else frame


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """``frame;frame;... count`` lines as (functions outermost first, count)."""
    stacks = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append(([function_of(f) for f in stack.split(";")], int(count)))
    return stacks


def hot_frames(text: str, top: int = 12) -> list[HotFrame]:
    stacks = parse_collapsed(text)
    total = sum(count for _, count in stacks)
    if total == 0:
        return []
    selfs: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for frames, count in stacks:
        selfs[frames[-1]] += count
        for frame in set(frames):
            totals[frame] += count
    ranked = sorted(totals, key=lambda f: (selfs[f], totals[f]), reverse=True)[:top]
    return [HotFrame(f, selfs[f] / total, totals[f] / total) for f in ranked]


def samples_in(text: str) -> int:
    return sum(count for _, count in parse_collapsed(text))


def py_spy() -> str | None:
    """The py-spy executable beside this Python, or on the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """``with Profiler({"processor": pid}, folder, "burst") as p: ...`` then ``p.files``."""

    def __init__(self, targets: dict[str, int], folder: Path, label: str, rate: int = 100) -> None:
        self.targets = targets
        self.folder = folder
        self.label = label
        self.rate = rate
        self.files: dict[str, Path] = {}
        self._running: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Profiler:
        executable = py_spy()
        if executable is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in self.targets.items():
            path = self.folder / f"{self.label}-{name}.txt"
            self.files[name] = path
            self._running.append(
                subprocess.Popen(
                    [
                        executable,
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "raw",
                        "--rate",
                        str(self.rate),
                        "--nonblocking",
                        "--output",
                        str(path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in self._running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
        for process in self._running:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
