"""`clearcut doctor` names the broker when it is down."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Pipeline, clearcut

pytestmark = pytest.mark.disruptive


def test_doctor_fails_naming_kafka_when_the_broker_is_stopped(pipeline: Pipeline) -> None:
    stopped = clearcut("stack", "down", "kafka", timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    try:
        result = clearcut("doctor", timeout=180)
        assert result.returncode == 1
        failing = [line for line in result.stdout.splitlines() if "FAIL" in line]
        assert any(" kafka " in line for line in failing), result.stdout
        assert "clearcut stack up kafka" in result.stdout
    finally:
        restarted = clearcut("stack", "up", "kafka", timeout=300)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
