"""The processor's own state, kept in its own bucket of the object store.

- ``results-by-content/...``: for each (original sha256, model sha256, owner, output options), the
  task whose stored results can be reused instead of running the model again.

No other service reads this; the read model in PostgreSQL is never consulted.
"""

from __future__ import annotations

from services.processor.adapters.blobstore import BlobStore, ObjectMissing
from services.processor.domain.task import StoredResults


class ProcessorState:
    def __init__(self, store: BlobStore, bucket: str) -> None:
        self._store = store
        self.bucket = bucket

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
