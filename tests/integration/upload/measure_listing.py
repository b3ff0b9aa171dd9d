"""Show how the image listing runs on a big table (not collected as a test):

    python -m tests.integration.upload.measure_listing ROWS

fills `images` in a schema of its own with ROWS rows of one owner (uploads spread over a
year; 90 % completed, 5 % failed, 4 % queued, 1 % deleted) and a tenth as many of other
owners, runs ANALYZE, and prints `EXPLAIN (ANALYZE, BUFFERS)` of the API's listing queries
(`ReadModel.page`, the same SQL): the first page, a page deep in the listing (after a cursor
half-way down), the status filter on a rare status, and a time range. The schema is removed
afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from services.common.settings import CommonSettings
from services.upload.adapters.postgres import connect
from services.upload.adapters.read_model import page_query
from services.upload.domain.listing import PageRequest
from services.upload.domain.progress import ImageStatus
from tests.integration.upload.isolated import isolated_schema

OWNER = "big-owner"
START = datetime(2025, 1, 1, tzinfo=UTC)

_FILL = """
INSERT INTO images (id, owner, original_bucket, original_key, content_type, size_bytes, width,
    height, sha256, status, current_task_id, current_task_requested_at, uploaded_at,
    created_at, updated_at, created_by, updated_by, deleted, deleted_at)
SELECT 'img-' || $2 || '-' || n, $2, 'clearcut-originals', $2 || '/img-' || n, 'image/jpeg',
    200000, 1024, 768, md5(n::text) || md5(n::text),
    CASE WHEN n % 100 < 90 THEN 'completed' WHEN n % 100 < 95 THEN 'failed'
         WHEN n % 100 < 99 THEN 'queued' ELSE 'processing' END,
    'task-' || n, t, t, t, t, $2, 'processor', n % 100 = 42, CASE WHEN n % 100 = 42 THEN t END
FROM (SELECT n, $3::timestamptz + make_interval(secs => n * 31536000.0 / $1) AS t
      FROM generate_series(1, $1) AS n) g
"""


async def measure(rows: int) -> None:
    stack = CommonSettings()
    async with isolated_schema(stack) as pg:
        conn = await connect(pg)
        try:
            began = time.perf_counter()
            await conn.execute(_FILL, rows, OWNER, START)
            await conn.execute(_FILL, rows // 10, "someone-else", START)
            await conn.execute("ANALYZE images")
            print(f"filled {rows + rows // 10} rows in {time.perf_counter() - began:.1f} s")
            middle = START + timedelta(days=182)
            cases = {
                "first page (limit 20)": PageRequest(limit=20),
                "page after a cursor half-way down (limit 100)": PageRequest(
                    limit=100, after=(middle, f"img-{OWNER}-{rows // 2}")
                ),
                "status=processing (1 %), first page": PageRequest(
                    limit=20, status=ImageStatus.PROCESSING
                ),
                "since/until one week, status=failed": PageRequest(
                    limit=20,
                    status=ImageStatus.FAILED,
                    since=middle,
                    until=middle + timedelta(days=7),
                ),
            }
            for title, request in cases.items():
                query, args = page_query(OWNER, request)
                plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {query}", *args)
                print(f"\n-- {title}\n" + "\n".join(r[0] for r in plan))
        finally:
            await conn.close()


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
