"""`clearcut up` runs each service by its own command, on the port of its own settings."""

from __future__ import annotations

import pytest

from services.run.processes import SERVICE_NAMES, service_specs
from services.webhooks.settings import WebhooksSettings


def test_every_service_has_a_spec_and_the_webhooks_service_its_own_command() -> None:
    specs = {spec.name: spec for spec in service_specs()}
    assert tuple(specs) == SERVICE_NAMES
    assert specs["notifier"].arguments == ("notifier",)
    webhooks = specs["webhooks"]
    assert webhooks.arguments == ("webhooks", "serve")
    assert (webhooks.host, webhooks.port) == ("127.0.0.1", WebhooksSettings().port)
    assert webhooks.ready_path == "/readyz"


def test_the_webhooks_port_follows_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARCUT_WEBHOOKS_PORT", "18084")
    (webhooks,) = [s for s in service_specs() if s.name == "webhooks"]
    assert webhooks.port == 18084
