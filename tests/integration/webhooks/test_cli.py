"""`clearcut webhooks add | list | remove | secret` against the real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import asyncpg

from services.common.settings import CommonSettings


def clearcut(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "webhooks", *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_endpoints_are_added_listed_without_secrets_and_removed(
    stack: CommonSettings, unique: str
) -> None:
    owner = f"cli-{unique}"
    added = clearcut("add", owner, "https://hooks.example.com/a", "--description", "orders")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("whsec_") and "\n" not in secret
    assert "not shown again" in added.stderr
    listed = clearcut("list", owner, "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["url"] == "https://hooks.example.com/a" and row["description"] == "orders"
    assert secret not in listed.stdout
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        stored = await conn.fetchval(
            "SELECT secret FROM webhook_endpoints WHERE id = $1", row["id"]
        )
    finally:
        await conn.close()
    assert stored == secret
    assert clearcut("remove", row["id"]).returncode == 0
    assert clearcut("list", owner, "--json").stdout.strip() == ""
    again = clearcut("remove", row["id"])
    assert again.returncode == 1 and "no active endpoint" in again.stderr
    first, second = clearcut("secret", owner), clearcut("secret", owner)
    assert first.returncode == second.returncode == 0
    assert first.stdout.strip() != second.stdout.strip()  # replaced


def test_targets_the_service_would_refuse_are_refused_at_once(unique: str) -> None:
    for url, why in [
        ("http://hooks.example.com/a", "insecure_scheme"),
        ("https://127.0.0.1/a", "loopback"),
        ("https://169.254.169.254/latest", "link_local"),
    ]:
        done = clearcut("add", f"cli-{unique}", url)
        assert done.returncode == 2 and why in done.stderr, done.stderr
    allowed = clearcut(
        "add",
        f"cli-{unique}",
        "http://127.0.0.1:9/a",
        env={
            "CLEARCUT_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
            "CLEARCUT_WEBHOOKS_ALLOW_HTTP": "true",
        },
    )
    assert allowed.returncode == 0, allowed.stderr
    bad_owner = clearcut("add", "no spaces", "https://hooks.example.com/")
    assert bad_owner.returncode == 2
