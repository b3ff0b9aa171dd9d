"""What the read model knows about a model's tasks, for replays of `missing` results, and
which images are deleted (never replayed)."""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from services.upload.adapters.postgres import postgres_errors
from services.upload.replay.selection import ModelState

_CHUNK = 5000

_QUERY = """
SELECT image_id,
       bool_or(status = 'completed' AND model_name = $1) AS completed,
       bool_or(status IN ('pending', 'processing')
               AND coalesce(model_name, requested_model) = $1) AS in_progress
FROM processing_tasks
WHERE NOT deleted AND image_id = ANY($2::text[])
GROUP BY image_id
"""


async def model_state(
    conn: asyncpg.Connection, model: str, image_ids: Collection[str]
) -> ModelState:
    """Which of ``image_ids`` have a completed task that ran ``model``, and which have one
    requesting it that is still pending or processing."""
    ids = sorted(set(image_ids))
    completed: set[str] = set()
    in_progress: set[str] = set()
    with postgres_errors():
        for start in range(0, len(ids), _CHUNK):
            rows = await conn.fetch(_QUERY, model, ids[start : start + _CHUNK])
            for row in rows:
                if row["completed"]:
                    completed.add(row["image_id"])
                elif row["in_progress"]:
                    in_progress.add(row["image_id"])
    return ModelState(frozenset(completed), frozenset(in_progress))


async def deleted_images(conn: asyncpg.Connection, image_ids: Collection[str]) -> frozenset[str]:
    """Which of ``image_ids`` were deleted."""
    ids = sorted(set(image_ids))
    found: set[str] = set()
    with postgres_errors():
        for start in range(0, len(ids), _CHUNK):
            rows = await conn.fetch(
                "SELECT image_id FROM image_deletions WHERE image_id = ANY($1::text[])",
                ids[start : start + _CHUNK],
            )
            found.update(row["image_id"] for row in rows)
    return frozenset(found)
