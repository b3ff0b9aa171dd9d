"""Tables and pages of benchmark results."""

from __future__ import annotations

import json
import math

import pytest

from bench.report import fmt, markdown_table, render_result, render_summary, summary_rows
from bench.results import Metric, ScenarioResult, Table, Target, cdf
from bench.store import from_json


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (True, "yes"),
        (12345, "12,345"),
        (12345.678, "12,346"),
        (123.4, "123"),
        (12.345, "12.3"),
        (1.2345, "1.23"),
        (0.012345, "0.012"),
        (0.0, "0"),
        (math.nan, "-"),
        ("p50", "p50"),
    ],
)
def test_cells_are_rounded_to_what_a_measurement_carries(value: object, text: str) -> None:
    assert fmt(value) == text


def test_markdown_table_right_aligns_numeric_columns_and_escapes_pipes() -> None:
    table = markdown_table(["name", "ms", "note"], [["a|b", 1.5, "x"], ["c", 20, None]])
    assert table.splitlines() == [
        "| name | ms | note |",
        "|---|---:|---|",
        "| a\\|b | 1.50 | x |",
        "| c | 20 | - |",
    ]


def test_markdown_table_refuses_a_ragged_row() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        markdown_table(["a", "b", "c"], [[1, 2]])


def test_targets_know_whether_they_are_met() -> None:
    assert Target("overhead p50", 19.9, 20.0, True, "ms").met
    assert not Target("overhead p99", 61.0, 60.0, True, "ms").met
    assert Target("burst / bare", 0.91, 0.9, False).met
    assert not Target("burst / bare", 0.89, 0.9, False).met
    assert not Target("ratio", math.nan, 1.05, True).met
    assert Target("overhead p50", 1.0, 20.0, True, "ms").bar == "≤ 20 ms"
    assert Target("burst / bare", 1.0, 0.9, False).bar == "≥ 0.9"


def _result() -> ScenarioResult:
    return ScenarioResult(
        scenario="overhead",
        title="Pipeline overhead",
        params={"uploads_per_photo": 20},
        targets=[
            Target("overhead p50", 14.2, 20.0, True, "ms"),
            Target("overhead p99", 75.0, 60.0, True, "ms"),
        ],
        headline=[Metric("uploads", 40.0)],
        tables=[Table("Parts", ["part", "p50"], [["queue_wait", 3.2]])],
        notes=["Sequential."],
        data={"samples": [math.nan, 1.0]},
        command="clearcut bench overhead --n 20",
        started_at="2025-11-22T10:00:00+00:00",
        duration_s=93.0,
        conditions={
            "machine": {"cpu_model": "AMD EPYC", "cpus": 2, "memory_gib": 23.5},
            "load": {"start": 3.1, "end": 2.9, "mean": 3.0, "max": 4.2, "samples": 40},
            "others_cpu_percent": 61.5,
            "cpu_percent": {"processor": 180.0, "other": 61.5, "kafka": 12.4, "bench": 0.4},
            "alongside": [{"command": "python -m pytest tests", "cpu_percent": 55.0}],
        },
        files=["overhead.png"],
    )


def test_a_result_page_has_its_verdicts_conditions_tables_and_plot() -> None:
    page = render_result(_result())
    assert page.startswith("# Pipeline overhead\n")
    assert "| overhead p50 | 14.2 ms | ≤ 20 ms | met |" in page
    assert "| overhead p99 | 75.0 ms | ≤ 60 ms | **missed** |" in page
    assert "mean 3.00, max 4.20" in page
    assert "python -m pytest tests 55.0%" in page
    assert "CPU by process (% of one core, mean over the run): processor 180, other 61.5, " in page
    assert "kafka 12.4." in page  # under 1% (the bench's 0.4) is left out
    assert "## Parts" in page and "| queue_wait | 3.20 |" in page
    assert "- Sequential." in page
    assert "![overhead](overhead.png)" in page


def test_json_of_a_result_has_verdicts_and_no_nan() -> None:
    body = json.loads(json.dumps(_result().as_json(), allow_nan=False))
    assert body["targets"][1]["met"] is False
    assert body["targets"][0]["bar"] == "≤ 20 ms"
    assert body["data"]["samples"] == [None, 1.0]
    assert "plots" not in body


def test_a_stored_result_summarises_like_the_original() -> None:
    original = _result()
    restored = from_json(json.loads(json.dumps(original.as_json())))
    assert summary_rows([restored]) == summary_rows([original])


def test_summary_has_a_row_per_target_and_headline_with_the_load() -> None:
    rows = summary_rows([_result()])
    assert rows[0] == [
        "overhead",
        "overhead p50",
        "14.2 ms",
        "≤ 20 ms",
        "met",
        "3.00 (max 4.20)",
        "61.5%",
    ]
    assert rows[1][4] == "**missed**"
    assert rows[2][:3] == ["overhead", "uploads", "40.0"]
    page = render_summary([_result()], {"cpu_model": "AMD EPYC", "cpus": 2})
    assert "Machine: AMD EPYC, 2 cores." in page
    assert "[Pipeline overhead](overhead.md)" in page


def test_cdf_series_is_sorted_with_cumulative_fractions() -> None:
    series = cdf("x", [3.0, 1.0, 2.0, 4.0])
    assert series.x == [1.0, 2.0, 3.0, 4.0]
    assert series.y == [0.25, 0.5, 0.75, 1.0]


def test_cdf_of_many_values_keeps_both_ends_and_at_most_its_points() -> None:
    series = cdf("x", [float(v) for v in range(10_000, 0, -1)], points=101)
    assert len(series.x) == 101
    assert (series.x[0], series.y[0]) == (1.0, 0.0001)
    assert (series.x[-1], series.y[-1]) == (10_000.0, 1.0)
    assert series.x == sorted(series.x)
