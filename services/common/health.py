"""One shape for `/healthz` and `/readyz` on every service:
``{"status": "ok" | "unavailable", "checks": {"<name>": "ok" | "<why not>"}}``, 200 or 503."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OK = "ok"
UNAVAILABLE = "unavailable"


def health_body(checks: Mapping[str, str] | None = None) -> tuple[dict[str, Any], int]:
    """The body and HTTP status for ``checks`` (none: the process is alive)."""
    report = dict(checks or {})
    ready = all(value == OK for value in report.values())
    return {"status": OK if ready else UNAVAILABLE, "checks": report}, 200 if ready else 503
