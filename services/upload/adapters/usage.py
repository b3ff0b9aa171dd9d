"""Usage by owner and day from the read model (see `domain.usage` for what counts)."""

from __future__ import annotations

import asyncpg

from services.upload.adapters.postgres import postgres_errors
from services.upload.domain.usage import DayUsage, UsageRange

_QUERY = """
WITH uploads AS (
    SELECT (uploaded_at AT TIME ZONE 'UTC')::date AS day, owner, count(*) AS uploaded
    FROM images
    WHERE ($1::text IS NULL OR owner = $1) AND uploaded_at >= $2 AND uploaded_at < $3
    GROUP BY 1, 2
), tasks AS (
    SELECT (t.finished_at AT TIME ZONE 'UTC')::date AS day, t.owner,
           count(*) FILTER (WHERE t.status = 'completed') AS processed,
           count(*) FILTER (WHERE t.status = 'failed') AS failed,
           coalesce(sum(i.width::bigint * i.height) FILTER (WHERE t.status = 'completed'), 0)
               AS pixels,
           coalesce(sum((SELECT sum((r ->> 'size')::bigint)
                         FROM jsonb_array_elements(t.results) AS r))
                    FILTER (WHERE t.status = 'completed'), 0) AS result_bytes
    FROM processing_tasks t JOIN images i ON i.id = t.image_id
    WHERE ($1::text IS NULL OR t.owner = $1) AND t.status IN ('completed', 'failed')
      AND t.finished_at >= $2 AND t.finished_at < $3
    GROUP BY 1, 2
)
SELECT day, owner, coalesce(u.uploaded, 0) AS uploaded, coalesce(t.processed, 0) AS processed,
       coalesce(t.failed, 0) AS failed, coalesce(t.pixels, 0) AS pixels,
       coalesce(t.result_bytes, 0) AS result_bytes
FROM uploads u FULL JOIN tasks t USING (day, owner)
ORDER BY day, owner
"""


class UsageQueries:
    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = pool

    async def by_day(self, owner: str | None, days: UsageRange) -> list[DayUsage]:
        """Per day and owner (one owner, or all when None), days without activity left out."""
        with postgres_errors():
            rows = await self._db.fetch(_QUERY, owner, days.start, days.end)
        return [
            DayUsage(
                day=row["day"],
                owner=row["owner"],
                uploaded=int(row["uploaded"]),
                processed=int(row["processed"]),
                failed=int(row["failed"]),
                megapixels=round(int(row["pixels"]) / 1e6, 6),
                result_bytes=int(row["result_bytes"]),
            )
            for row in rows
        ]
