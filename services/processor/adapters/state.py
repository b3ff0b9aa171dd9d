"""The processor's own state, kept in its own bucket of the object store.

- ``attempts/<task_id>``: how many times the task was started, by any worker, so that a
  task re-delivered after a crash reports ``attempt`` 2.
- ``results-by-content/...``: for each (original sha256, model sha256, output options), the
  task whose stored results can be reused instead of running the model again.

No other service reads this; the read model in PostgreSQL is never consulted.
"""

from __future__ import annotations

from schemas.events import ImageUploaded
from services.processor.adapters.blobstore import BlobStore, ObjectMissing
from services.processor.domain.task import StoredResults, attempt_key


class ProcessorState:
    def __init__(self, store: BlobStore, bucket: str) -> None:
        self._store = store
        self.bucket = bucket

    async def next_attempt(self, upload: ImageUploaded) -> int:
        """Count one more start of the task and return its number (1 for the first)."""
        key = attempt_key(upload)
        try:
            previous = int((await self._store.get(self.bucket, key)).decode() or 0)
        except ObjectMissing:
            previous = 0
        except ValueError:
            previous = 0
        attempt = previous + 1
        await self._store.put(self.bucket, key, str(attempt).encode(), "text/plain")
        return attempt

    async def find_results(self, key: str) -> StoredResults | None:
        try:
            data = await self._store.get(self.bucket, key)
        except ObjectMissing:
            return None
        return StoredResults.from_json(data)

    async def remember_results(self, key: str, results: StoredResults) -> None:
        await self._store.put(self.bucket, key, results.to_json(), "application/json")

    async def forget_results(self, key: str) -> None:
        await self._store.delete(self.bucket, key)
