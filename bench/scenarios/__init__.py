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
    n_means: str
    default_n: int  # alone
    all_n: int  # within `all`, which must finish in 20 minutes on the 2-core machine
    quick_n: int  # --quick
    offline: bool = False  # in this process only: no pipeline, not part of `all`

    def runner(self) -> Callable[[Context, int], ScenarioResult]:
        module = importlib.import_module(f"bench.scenarios.{self.name}")
        run: Callable[[Context, int], ScenarioResult] = module.run
        return run


_ALL = (
    Scenario(
        "overhead",
        "sequential uploads, end to end minus compute",
        "uploads per photo",
        default_n=20,
        all_n=10,
        quick_n=3,
    ),
    Scenario(
        "parity",
        "processor inference path vs a bare ONNX Runtime loop",
        "rounds",
        default_n=12,
        all_n=10,
        quick_n=3,
    ),
    Scenario(
        "ceiling",
        "a near-free model: pipeline vs a bare loop of the same CPU work; idle CPU",
        "uploads",
        default_n=60,
        all_n=30,
        quick_n=6,
    ),
    Scenario(
        "burst",
        "N uploads at once vs the bare-loop throughput",
        "uploads",
        default_n=50,
        all_n=50,
        quick_n=8,
    ),
    Scenario(
        "memory",
        "the processor's resident memory during a burst of 24-megapixel photos",
        "uploads",
        default_n=8,
        all_n=6,
        quick_n=3,
    ),
    Scenario(
        "ingest",
        "upload API alone, several concurrency levels",
        "requests per level",
        default_n=200,
        all_n=150,
        quick_n=30,
    ),
    Scenario(
        "fanout",
        "websocket subscribers: delay and notifier memory",
        "largest subscriber count",
        default_n=10_000,
        all_n=10_000,
        quick_n=1_000,
    ),
    Scenario(
        "peer",
        "the same photos through rembg, interleaved",
        "photos",
        default_n=10,
        all_n=6,
        quick_n=2,
    ),
    Scenario(
        "scale",
        "the burst with 1x2, 1x1 and 2x1 processor threads",
        "uploads per burst",
        default_n=50,
        all_n=15,
        quick_n=6,
    ),
    Scenario(
        "png",
        "PNG encoding of a 24-megapixel cut-out and mask: Pillow against the processor",
        "runs per encoder and level",
        default_n=3,
        all_n=2,  # not part of `all`; kept in step with the others' rule
        quick_n=1,
        offline=True,
    ),
)
SCENARIOS = {s.name: s for s in _ALL}
ORDER = [s.name for s in _ALL if not s.offline]
