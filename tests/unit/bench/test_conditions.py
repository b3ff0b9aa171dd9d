"""How a run's conditions on a shared machine are accounted."""

from __future__ import annotations

import pytest

from bench.conditions import (
    BENCH,
    OTHER,
    CpuTally,
    categorise,
    load_report,
    shorten_command,
)


def test_a_command_is_named_by_its_program_and_arguments() -> None:
    argv = ["/work/main/.venv/bin/python3", "-m", "pytest", "tests/unit"]
    assert shorten_command(argv) == "python3 -m pytest tests/unit"
    assert shorten_command(["x" * 100], limit=20) == "x" * 17 + "..."
    assert shorten_command([]) == "?"


def test_processes_belong_to_their_nearest_known_ancestor() -> None:
    parents = {
        100: 1,  # the bench
        101: 100,  # a client worker it spawned
        102: 101,  # and that one's child
        200: 1,  # a pipeline service
        300: 1,  # the postmaster
        301: 300,  # a PostgreSQL backend
        400: 1,  # someone's test run
        401: 400,
    }
    roots = {BENCH: {100}, "processor": {200}, "postgres": {300}}
    assert categorise(parents, roots) == {
        100: BENCH,
        101: BENCH,
        102: BENCH,
        200: "processor",
        300: "postgres",
        301: "postgres",
        400: OTHER,
        401: OTHER,
    }


def test_report_gives_load_and_cpu_shares_and_names_only_busy_strangers() -> None:
    tally = CpuTally()
    tally.add(OTHER, "pytest tests/integration", 30.0)
    tally.add(OTHER, "pytest tests/integration", 10.0)
    tally.add(OTHER, "sleep 100", 1.0)
    tally.add("processor", "services.cli.main processor", 50.0)
    tally.add(BENCH, "bench", -3.0)  # a negative delta never counts
    report = load_report([2.0, 4.0, 3.0], tally, wall_seconds=100.0)
    assert report["load"] == {"start": 2.0, "end": 3.0, "mean": 3.0, "max": 4.0, "samples": 3}
    assert report["cpu_percent"] == {"processor": 50.0, OTHER: 41.0, BENCH: 0.0}
    assert list(report["cpu_percent"]) == ["processor", OTHER, BENCH]  # largest first
    assert report["others_cpu_percent"] == 41.0
    assert report["alongside"] == [{"command": "pytest tests/integration", "cpu_percent": 40.0}]


def test_no_samples_no_report() -> None:
    assert load_report([], CpuTally(), 10.0) == {}
    assert load_report([1.0], CpuTally(), 0.0) == {}


@pytest.mark.parametrize("seconds", [0.5, 2.0])
def test_tally_adds_up_per_category(seconds: float) -> None:
    tally = CpuTally()
    tally.add("kafka", "java kafka.Kafka", seconds)
    tally.add("kafka", "java kafka.Kafka --other", seconds)
    assert tally.by_category() == {"kafka": 2 * seconds}
