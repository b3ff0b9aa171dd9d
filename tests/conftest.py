"""Session-wide fixtures: the real stack is brought up once per test run."""

from __future__ import annotations

import uuid

import pytest

from services.common.settings import CommonSettings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that stop and restart components run last, so they cannot disturb the others.
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def settings() -> CommonSettings:
    return CommonSettings()


@pytest.fixture(scope="session")
def stack(settings: CommonSettings) -> CommonSettings:
    """Start (or find running) Kafka, MinIO, PostgreSQL and Jaeger, as `clearcut stack up` does."""
    from services.cli.stack import bring_up

    bring_up(settings)
    return settings


@pytest.fixture
def unique() -> str:
    """A random suffix so that tests never share topics, objects or rows."""
    return uuid.uuid4().hex[:12]
