"""Which scenarios a command runs, and at what size."""

from __future__ import annotations

import pytest

from bench.runner import RunOptions, UnknownScenario, chosen, command_of, size_of
from bench.scenarios import ORDER, SCENARIOS


def test_all_runs_every_scenario_in_order() -> None:
    assert chosen("all") == ORDER
    assert ORDER == [
        "overhead",
        "parity",
        "ceiling",
        "burst",
        "memory",
        "ingest",
        "fanout",
        "peer",
        "scale",
    ]
    assert chosen("burst") == ["burst"]
    assert chosen("png") == ["png"] and SCENARIOS["png"].offline  # offline: not part of all
    assert [name for name, s in SCENARIOS.items() if not s.offline] == ORDER
    with pytest.raises(UnknownScenario, match="choose one of overhead"):
        chosen("speed")


def test_sizes_full_within_all_quick_and_explicit() -> None:
    burst = SCENARIOS["burst"]
    assert size_of("burst", RunOptions(), within_all=False) == burst.default_n == 50
    assert size_of("scale", RunOptions(), within_all=True) == SCENARIOS["scale"].all_n
    assert size_of("burst", RunOptions(quick=True), within_all=True) == burst.quick_n
    assert size_of("burst", RunOptions(n=7), within_all=False) == 7


def test_every_scenario_is_smaller_when_quick() -> None:
    for scenario in SCENARIOS.values():
        assert scenario.quick_n < scenario.all_n <= scenario.default_n


def test_the_recorded_command_reruns_the_scenario_alone() -> None:
    assert command_of("peer", RunOptions(), 6, within_all=False) == "clearcut bench peer --n 6"
    assert command_of("peer", RunOptions(profile=True), 6, within_all=True) == (
        "clearcut bench peer --n 6 --profile (within clearcut bench all)"
    )


def test_clearcut_bench_is_a_command_that_names_its_scenarios() -> None:
    from typer.testing import CliRunner

    from services.cli.main import app

    result = CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ceiling" in result.output and "memory" in result.output


def test_clearcut_bench_says_so_when_the_suite_is_not_importable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    from typer.testing import CliRunner

    from services.cli.main import app

    real = importlib.import_module

    def without_bench(name: str, package: str | None = None) -> object:
        if name == "bench" or name.startswith("bench."):
            raise ModuleNotFoundError(f"No module named {name!r}", name="bench")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_bench)
    result = CliRunner().invoke(app, ["bench", "burst", "--n", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "not importable here" in result.output
    assert "pip install -e" in result.output
