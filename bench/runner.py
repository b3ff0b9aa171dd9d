"""Running scenarios: the pipeline up, each scenario under a load sampler, files written."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.client import BenchError
from bench.conditions import LoadSampler, describe_machine
from bench.pipeline import REPO, Pipeline
from bench.results import ScenarioResult
from bench.scenarios import ORDER, SCENARIOS
from bench.scenarios.context import Context
from bench.store import write_result, write_summary

logger = logging.getLogger(__name__)


class UnknownScenario(ValueError):
    pass


@dataclass(frozen=True)
class RunOptions:
    n: int | None = None
    quick: bool = False
    out_dir: Path = REPO / "bench" / "results"
    profile: bool = False


def chosen(name: str) -> list[str]:
    if name == "all":
        return list(ORDER)
    if name not in SCENARIOS:
        raise UnknownScenario(f"no scenario {name!r}; choose one of {', '.join(SCENARIOS)} or all")
    return [name]


def size_of(name: str, options: RunOptions, *, within_all: bool) -> int:
    scenario = SCENARIOS[name]
    if options.n is not None:
        return options.n
    if options.quick:
        return scenario.quick_n
    return scenario.all_n if within_all else scenario.default_n


def command_of(name: str, options: RunOptions, n: int, *, within_all: bool) -> str:
    """The command that runs this scenario at this size alone (and how it was run)."""
    words = ["clearcut", "bench", name, "--n", str(n)]
    if options.profile:
        words.append("--profile")
    command = " ".join(words)
    return f"{command} (within clearcut bench all)" if within_all else command


def run(name: str, options: RunOptions, say: Callable[[str], None]) -> list[ScenarioResult]:
    """Run ``name`` (or every scenario for ``all``); each result is written as it is done."""
    from services.common.settings import CommonSettings

    names = chosen(name)
    online = not all(SCENARIOS[n].offline for n in names)
    pipeline = Pipeline(CommonSettings(), say)
    if online:
        pipeline.ensure_up()
    machine = describe_machine(REPO)
    results = []
    began = time.monotonic()
    for scenario_name in names:
        n = size_of(scenario_name, options, within_all=len(names) > 1)
        say(f"== {scenario_name} (n = {n}): {SCENARIOS[scenario_name].what}")
        context = Context(
            pipeline, say, profile=options.profile, profiles_dir=options.out_dir / "profiles"
        )
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        started = time.monotonic()
        lost = ""
        with LoadSampler(pipeline.roots) as sampler:
            try:
                result = SCENARIOS[scenario_name].runner()(context, n)
            except Exception as exc:  # one failed scenario must not stop `all`
                logger.debug("scenario %s failed", scenario_name, exc_info=True)
                say(f"  FAILED: {type(exc).__name__}: {exc}")
                result = ScenarioResult(
                    scenario=scenario_name,
                    title=f"{scenario_name}: failed",
                    params={"n": n},
                    notes=[f"The run failed: {type(exc).__name__}: {exc}"],
                    data={"traceback": traceback.format_exc()},
                )
            finally:
                try:
                    if online:
                        pipeline.ensure_up()  # a scenario that stopped a service puts it back
                except BenchError as exc:
                    lost = str(exc)
        result.command = command_of(scenario_name, options, n, within_all=len(names) > 1)
        result.started_at = started_at
        result.duration_s = round(time.monotonic() - started, 1)
        result.conditions = {"machine": machine, **sampler.report()}
        for path in write_result(result, options.out_dir):
            say(f"  wrote {path}")
        results.append(result)
        if lost:
            say(f"the pipeline cannot be brought back up, stopping here: {lost}")
            break
    summary = write_summary(options.out_dir, list(SCENARIOS))
    say(f"wrote {summary} ({time.monotonic() - began:.0f} s in all)")
    return results
