"""Where a task's time went: per-stage durations turned into the contract's ``Timings``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from schemas.values import Timings


class Stage(StrEnum):
    DOWNLOAD = "download"
    DECODE = "decode"
    PREPROCESS = "preprocess"
    INFERENCE = "inference"
    POSTPROCESS = "postprocess"
    ENCODE = "encode"
    UPLOAD = "upload"


@dataclass(frozen=True)
class Interval:
    """One measured stage: wall-clock start (ns since the epoch, for traces) and duration."""

    stage: Stage
    start_ns: int
    duration_ns: int

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_ns


@dataclass
class StageTimes:
    """Accumulated seconds per stage for one task, and the intervals they came from."""

    seconds: dict[Stage, float] = field(default_factory=dict)
    intervals: list[Interval] = field(default_factory=list)

    def add(self, interval: Interval) -> None:
        self.intervals.append(interval)
        self.seconds[interval.stage] = (
            self.seconds.get(interval.stage, 0.0) + interval.duration_ns / 1e9
        )

    @contextmanager
    def measure(self, stage: Stage) -> Iterator[None]:
        """Time the block (also when it raises); safe to use on any thread."""
        wall = time.time_ns()
        started = time.perf_counter_ns()
        try:
            yield
        finally:
            self.add(Interval(stage, wall, max(time.perf_counter_ns() - started, 0)))

    def ms(self, stage: Stage) -> float:
        return round(self.seconds.get(stage, 0.0) * 1000.0, 3)


def elapsed_ms(since: datetime, until: datetime) -> float:
    """Milliseconds between two instants, never negative (clocks of two hosts may differ)."""
    return round(max((until - since).total_seconds(), 0.0) * 1000.0, 3)


def build_timings(
    stages: StageTimes, *, occurred_at: datetime, started_at: datetime, stored_at: datetime
) -> Timings:
    """The contract's breakdown: queue wait and total are measured from the upload's time."""
    return Timings(
        queue_wait_ms=elapsed_ms(occurred_at, started_at),
        download_ms=stages.ms(Stage.DOWNLOAD),
        decode_ms=stages.ms(Stage.DECODE),
        preprocess_ms=stages.ms(Stage.PREPROCESS),
        inference_ms=stages.ms(Stage.INFERENCE),
        postprocess_ms=stages.ms(Stage.POSTPROCESS),
        encode_ms=stages.ms(Stage.ENCODE),
        upload_ms=stages.ms(Stage.UPLOAD),
        total_ms=elapsed_ms(occurred_at, stored_at),
    )
