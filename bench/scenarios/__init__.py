"""The scenarios, by name, in the order ``all`` runs them."""

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

    def runner(self) -> Callable[[Context, int], ScenarioResult]:
        module = importlib.import_module(f"bench.scenarios.{self.name}")
        run: Callable[[Context, int], ScenarioResult] = module.run
        return run


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "overhead",
            "sequential uploads, end to end minus compute",
            "uploads per photo",
            20,
            12,
            3,
        ),
        Scenario(
            "parity",
            "processor inference path vs a bare ONNX Runtime loop",
            "rounds",
            10,
            8,
            3,
        ),
        Scenario("burst", "N uploads at once vs the bare-loop throughput", "uploads", 50, 50, 8),
        Scenario(
            "ingest",
            "upload API alone, several concurrency levels",
            "requests per level",
            200,
            150,
            30,
        ),
        Scenario(
            "fanout",
            "websocket subscribers: delay and notifier memory",
            "largest subscriber count",
            10_000,
            10_000,
            1_000,
        ),
        Scenario("peer", "the same photos through rembg, interleaved", "photos", 10, 6, 2),
        Scenario(
            "scale",
            "the burst with 1x2, 1x1 and 2x1 processor threads",
            "uploads per burst",
            50,
            16,
            6,
        ),
    )
}
ORDER = list(SCENARIOS)
