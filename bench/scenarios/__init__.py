"""The scenarios, by name, in the order ``all`` runs them; then the offline ones, which need
no pipeline and are not part of ``all``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from bench.results import ScenarioResult
from bench.scenarios.context import Context


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    default_n: int  # alone (what `--n` counts: see bench/README.md)
    all_n: int  # within `all`, which must finish in 20 minutes on the 2-core machine
    quick_n: int  # --quick
    offline: bool = False  # in this process only: no pipeline, not part of `all`

    def runner(self) -> Callable[[Context, int], ScenarioResult]:
        module = importlib.import_module(f"bench.scenarios.{self.name}")
        run: Callable[[Context, int], ScenarioResult] = module.run
        return run


_ALL = (
    Scenario("overhead", "sequential uploads, end to end minus compute", 20, 10, 3),
    Scenario("parity", "processor inference path vs a bare ONNX Runtime loop", 12, 10, 3),
    Scenario(
        "ceiling",
        "a near-free model: pipeline vs a bare loop of the same CPU work; idle CPU",
        60,
        30,
        6,
    ),
    Scenario("burst", "N uploads at once vs the bare-loop throughput", 50, 50, 8),
    Scenario(
        "memory", "the processor's resident memory during a burst of 24-megapixel photos", 8, 6, 3
    ),
    Scenario("ingest", "upload API alone, several concurrency levels", 200, 150, 30),
    Scenario("fanout", "websocket subscribers: delay and notifier memory", 10_000, 10_000, 1_000),
    Scenario("peer", "the same photos through rembg, interleaved", 10, 6, 2),
    Scenario("scale", "the burst with 1x2, 1x1 and 2x1 processor threads", 50, 15, 6),
    # Offline: not part of `all`, whose sizes they do not use.
    Scenario("png", "PNG encoders on a 24-megapixel cut-out and mask", 3, 2, 1, offline=True),
)
SCENARIOS = {s.name: s for s in _ALL}
ORDER = [s.name for s in _ALL if not s.offline]
