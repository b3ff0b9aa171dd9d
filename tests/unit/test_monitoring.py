"""The monitoring files generated from their sources are committed as generated: the
Kubernetes PrometheusRule carries exactly the rules of deploy/prometheus/rules.yml, and the
Grafana dashboard is the model of services/ops/dashboard.py, whose every expression parses
(promtool) and reads only recorded series."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common.settings import CommonSettings
from services.devstack.gotools import PROMTOOL
from services.ops import dashboard, generated, rules

# Series a dashboard expression may read besides the recording rules' own.
RAW_SERIES = {"up"}
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
}


@pytest.fixture(scope="module")
def promtool() -> Path:
    path = PROMTOOL.path(CommonSettings().paths.cache_dir)
    assert path.exists(), f"{path} is missing: run `clearcut stack install --test-tools`"
    return path


def test_the_generated_files_are_committed_as_generated() -> None:
    assert generated.stale() == [], "run `clearcut docs monitoring --write` and commit"


def test_the_prometheus_rule_has_exactly_the_rules_of_rules_yml() -> None:
    committed = yaml.safe_load(rules.PROMETHEUS_RULE_FILE.read_text())
    source = yaml.safe_load(rules.RULES_FILE.read_text())
    assert committed["kind"] == "PrometheusRule"
    assert committed["spec"]["groups"] == source["groups"]


def test_the_committed_dashboard_is_the_generated_model() -> None:
    committed = json.loads(dashboard.DASHBOARD_FILE.read_text())
    assert committed == dashboard.dashboard()
    exprs = [t["expr"] for p in committed["panels"] for t in p["targets"]]
    assert exprs == dashboard.expressions()
    assert len({p["id"] for p in committed["panels"]}) == len(committed["panels"])


def _series_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions,
    keywords, label names (inside {} or by/without ()) or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def test_the_series_name_check_finds_names() -> None:
    found = _series_names('sum by (reason) (rate(x_total{job="a"}[5m])) / on(job) y:z')
    assert found == {"x_total", "y:z"}


def test_every_dashboard_expression_reads_only_recorded_series() -> None:
    allowed = rules.recorded_names() | RAW_SERIES
    for expr in dashboard.expressions():
        unknown = _series_names(expr) - allowed
        assert not unknown, f"{expr!r} reads {sorted(unknown)}, which no rule records"


def _as_rules(exprs: list[str]) -> str:
    group = {
        "name": "dashboard",
        "rules": [{"record": f"dashboard:panel_{i}", "expr": e} for i, e in enumerate(exprs)],
    }
    return yaml.safe_dump({"groups": [group]})


def test_every_dashboard_expression_parses(promtool: Path, tmp_path: Path) -> None:
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(_as_rules(dashboard.expressions()))
    done = subprocess.run(
        [str(promtool), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_refuses_an_expression_that_does_not_parse(promtool: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(_as_rules(["sum(clearcut:completions:rate5m"]))
    done = subprocess.run(
        [str(promtool), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0


def test_the_generator_command_names_a_stale_file_and_rewrites_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from services.cli.main import app

    target = tmp_path / "deploy" / "grafana" / "clearcut-overview.json"
    monkeypatch.setattr(generated, "GENERATED", {target: dashboard.render})
    monkeypatch.setattr("services.common.settings.REPO_ROOT", tmp_path)
    runner = CliRunner()

    stale = runner.invoke(app, ["docs", "monitoring"])
    assert stale.exit_code == 1
    assert "stale: deploy/grafana/clearcut-overview.json" in stale.output

    written = runner.invoke(app, ["docs", "monitoring", "--write"])
    assert written.exit_code == 0, written.output
    assert json.loads(target.read_text()) == dashboard.dashboard()
    assert runner.invoke(app, ["docs", "monitoring"]).exit_code == 0
