"""Markdown of results: one page per scenario and a summary of a whole run (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.results import ScenarioResult, Target

MISSING = "-"


def fmt(value: Any) -> str:
    """A table cell: numbers rounded to what the measurement can carry."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return MISSING
        size = abs(value)
        if size >= 100:
            return f"{value:,.0f}"
        if size >= 10:
            return f"{value:.1f}"
        if size >= 1:
            return f"{value:.2f}"
        if size == 0:
            return "0"
        return f"{value:.3f}"
    return str(value)


def _cell(value: Any) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {list(row)!r} has {len(row)} cells for {len(headers)} columns")
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def with_unit(value: float, unit: str) -> str:
    return f"{fmt(value)} {unit}" if unit else fmt(value)


def verdict(target: Target) -> str:
    return "met" if target.met else "**missed**"


def target_rows(targets: Sequence[Target]) -> list[list[Any]]:
    return [[t.name, with_unit(t.value, t.unit), t.bar, verdict(t)] for t in targets]


def conditions_text(conditions: dict[str, Any]) -> str:
    """One paragraph: the machine's load during the run and what else was busy."""
    load = conditions.get("load", {})
    parts = []
    if load:
        parts.append(
            "load average (1 min) "
            f"{fmt(load.get('start'))} at start, mean {fmt(load.get('mean'))}, "
            f"max {fmt(load.get('max'))}, {fmt(load.get('end'))} at end"
        )
    alongside = conditions.get("alongside", [])
    if alongside:
        busy = ", ".join(f"{p['command']} {fmt(p['cpu_percent'])}%" for p in alongside)
        parts.append(f"other processes' CPU (% of one core, mean over the run): {busy}")
    elif load:
        parts.append("no other process used more than 5% of a core")
    if "others_cpu_percent" in conditions:
        parts.append(
            f"all processes outside the pipeline, its stack and the bench together: "
            f"{fmt(conditions['others_cpu_percent'])}% of one core"
        )
    return "; ".join(parts) + "." if parts else "(no conditions recorded)"


def render_result(result: ScenarioResult) -> str:
    lines = [f"# {result.title}", ""]
    lines.append(
        f"`{result.command}` — {result.started_at}, {fmt(result.duration_s)} s. "
        + ", ".join(f"{k} = {_cell(v)}" for k, v in result.params.items())
    )
    lines += ["", f"Conditions: {conditions_text(result.conditions)}", ""]
    cpu = result.conditions.get("cpu_percent", {})
    if cpu:
        busy = ", ".join(f"{name} {fmt(share)}" for name, share in cpu.items() if share >= 1)
        lines += [f"CPU by process (% of one core, mean over the run): {busy}.", ""]
    if result.targets:
        lines += [markdown_table(["target", "measured", "bar", ""], target_rows(result.targets))]
        lines.append("")
    if result.headline:
        rows = [[m.name, with_unit(m.value, m.unit)] for m in result.headline]
        lines += [markdown_table(["measure", "value"], rows), ""]
    for table in result.tables:
        lines += [f"## {table.title}", "", markdown_table(table.headers, table.rows), ""]
    if result.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in result.notes] + [""]
    for name in result.files:
        if name.endswith(".png"):
            lines += [f"![{result.scenario}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def summary_rows(results: Sequence[ScenarioResult]) -> list[list[Any]]:
    """One row per target (or headline figure when a scenario has no target)."""
    rows: list[list[Any]] = []
    for result in results:
        load = result.conditions.get("load", {})
        load_text = f"{fmt(load.get('mean'))} (max {fmt(load.get('max'))})" if load else MISSING
        others = result.conditions.get("others_cpu_percent")
        noise = f"{fmt(others)}%" if others is not None else MISSING
        for target in result.targets:
            value = with_unit(target.value, target.unit)
            rows.append(
                [result.scenario, target.name, value, target.bar, verdict(target), load_text, noise]
            )
        for metric in result.headline:
            value = with_unit(metric.value, metric.unit)
            rows.append([result.scenario, metric.name, value, "", "", load_text, noise])
    return rows


SUMMARY_HEADERS = [
    "scenario",
    "measure",
    "value",
    "target",
    "",
    "load avg",
    "other CPU",
]


def render_summary(results: Sequence[ScenarioResult], machine: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine_text(machine)}.",
        "",
        markdown_table(SUMMARY_HEADERS, summary_rows(results)),
        "",
        "`load avg`: mean (max) of the 1-minute load average while the scenario ran. "
        "`other CPU`: CPU used by processes outside the pipeline, its stack and the bench "
        "(other people's work on this shared machine), in % of one core; the machine has "
        f"{machine.get('cpus', '?')} cores.",
        "",
    ]
    for result in results:
        conditions = conditions_text(result.conditions)
        lines.append(f"- [{result.title}]({result.scenario}.md): {conditions}")
    return "\n".join(lines).rstrip() + "\n"


def machine_text(machine: dict[str, Any]) -> str:
    memory = machine.get("memory_gib")
    return ", ".join(
        str(part)
        for part in (
            machine.get("cpu_model", "unknown CPU"),
            f"{machine.get('cpus', '?')} cores",
            f"{fmt(memory)} GiB memory" if memory is not None else None,
            machine.get("kernel"),
            f"Python {machine.get('python')}" if machine.get("python") else None,
            f"ONNX Runtime {machine.get('onnxruntime')}" if machine.get("onnxruntime") else None,
            f"commit {machine.get('commit')}" if machine.get("commit") else None,
        )
        if part
    )
