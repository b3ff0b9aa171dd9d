"""What every scenario gets: the pipeline, a progress printer, a random source, profiling."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.pipeline import Pipeline
from bench.profiling import Profiler, hot_frames, samples_in
from bench.results import Table


@dataclass
class Context:
    pipeline: Pipeline
    say: Callable[[str], None]
    profile: bool = False
    profiles_dir: Path = Path("profiles")
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    profile_tables: list[Table] = field(default_factory=list)

    @contextlib.contextmanager
    def profiled(self, services: list[str], label: str) -> Iterator[None]:
        """Profile the named pipeline services during the block, when profiling is on; the
        hottest frames of each become tables of the result."""
        if not self.profile:
            yield
            return
        targets = {
            name: pid for name in services if (pid := self.pipeline.service_pid(name)) is not None
        }
        with Profiler(targets, self.profiles_dir, label) as profiler:
            yield
        for name, path in profiler.files.items():
            text = path.read_text() if path.exists() else ""
            rows: list[list[object]] = [
                [frame.frame, 100.0 * frame.self_share, 100.0 * frame.total_share]
                for frame in hot_frames(text)
            ]
            self.profile_tables.append(
                Table(
                    f"Profile of {name} during {label} ({samples_in(text):,} samples on CPU, "
                    f"py-spy; raw stacks in profiles/{path.name})",
                    ["frame", "self %", "total %"],
                    rows,
                )
            )
