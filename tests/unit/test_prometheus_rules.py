"""The Prometheus rules and configuration, checked by Prometheus's own promtool: syntax, and
unit tests of the alerts (``deploy/prometheus/rules_test.yml``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.common.settings import REPO_ROOT, CommonSettings
from services.devstack.gotools import PROMTOOL
from services.devstack.prometheus import scrape_config

RULES_DIR = REPO_ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> Path:
    """Built by `clearcut stack install --test-tools`, which the test command runs first."""
    path = PROMTOOL.path(CommonSettings().paths.cache_dir)
    assert path.exists(), f"{path} is missing: run `clearcut stack install --test-tools`"
    return path


def run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, cwd=RULES_DIR, timeout=120
    )


def test_the_rules_are_valid(promtool: Path) -> None:
    done = run(promtool, "check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_alerts_fire_when_they_should_and_only_then(promtool: Path) -> None:
    done = run(promtool, "test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_expectation_fails_the_rule_tests(promtool: Path, tmp_path: Path) -> None:
    # The rule tests can fail: an expected alert that the rules do not raise is reported.
    text = (RULES_DIR / "rules_test.yml").read_text()
    broken = tmp_path / "rules_test.yml"
    broken.write_text(
        text.replace(
            "rule_files:\n  - rules.yml", f"rule_files:\n  - {RULES_DIR / 'rules.yml'}"
        ).replace("values: '50+30x30'", "values: '50x30'")
    )
    done = run(promtool, "test", "rules", str(broken))
    assert done.returncode != 0
    assert "ClearcutProcessorLagGrowing" in done.stdout + done.stderr


def test_the_stack_configuration_is_valid(promtool: Path, tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(CommonSettings()))
    done = run(promtool, "check", "config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
