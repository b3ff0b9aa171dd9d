"""The purger's work list in PostgreSQL (`purge_requests`) and what it needs to know about
a deleted image: where its original is, which tasks it had and where their results are.

The projector adds a request in the transaction that applies an event of a deleted image;
`claim` hands due requests to one purger at a time (`FOR UPDATE SKIP LOCKED`, held until
the caller's transaction ends), so two projector replicas never purge the same image at
once, and a request renewed meanwhile waits for the purge under way and then runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class TaskObjects:
    task_id: str
    model_sha256: str | None
    output_format: str | None
    background: str | None
    results: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PurgeTarget:
    image_id: str
    owner: str
    original: tuple[str, str] | None  # (bucket, key) from the read model, once known
    original_sha256: str | None
    tasks: list[TaskObjects]


async def claim(conn: asyncpg.Connection, limit: int, requester: str = "") -> list[PurgeTarget]:
    """Due requests of ``requester`` (a deployment's topic prefix), locked for the caller's
    transaction, with what the read model knows."""
    rows = await conn.fetch(
        "SELECT p.image_id, p.owner, i.original_bucket, i.original_key, i.sha256 "
        "FROM purge_requests p LEFT JOIN images i ON i.id = p.image_id "
        "WHERE p.requester = $2 AND p.purged_at IS NULL AND p.due_at <= now() "
        "ORDER BY p.due_at LIMIT $1 FOR UPDATE OF p SKIP LOCKED",
        limit,
        requester,
    )
    if not rows:
        return []
    task_rows = await conn.fetch(
        "SELECT image_id, id, model_sha256, output_format, background, results "
        "FROM processing_tasks WHERE image_id = ANY($1::text[]) ORDER BY id",
        [r["image_id"] for r in rows],
    )
    tasks: dict[str, list[TaskObjects]] = {}
    for t in task_rows:
        tasks.setdefault(t["image_id"], []).append(
            TaskObjects(
                task_id=t["id"],
                model_sha256=t["model_sha256"],
                output_format=t["output_format"],
                background=t["background"],
                results=list(t["results"] or []),
            )
        )
    return [
        PurgeTarget(
            image_id=r["image_id"],
            owner=r["owner"],
            original=None
            if r["original_bucket"] is None
            else (r["original_bucket"], r["original_key"]),
            original_sha256=r["sha256"],
            tasks=tasks.get(r["image_id"], []),
        )
        for r in rows
    ]


async def done(conn: asyncpg.Connection, image_id: str, objects: int) -> None:
    await conn.execute(
        "UPDATE purge_requests SET purged_at = now(), attempts = attempts + 1, "
        "objects = objects + $2, last_error = NULL WHERE image_id = $1",
        image_id,
        objects,
    )


async def failed(conn: asyncpg.Connection, image_id: str, error: str, retry_in: float) -> None:
    await conn.execute(
        "UPDATE purge_requests SET attempts = attempts + 1, last_error = $2, "
        "due_at = now() + make_interval(secs => $3) WHERE image_id = $1",
        image_id,
        error[:2000],
        retry_in,
    )
