"""The purger: removes a deleted image's objects from the object store.

Runs beside the projector, which asks for a purge whenever it applies an event of a deleted
image (the deletion itself, a result that arrives after it, a replayed upload). A purge
removes, and counts:

- the original: the read model's `original_bucket`/`original_key`, and the upload API's
  key (`{owner}/{image_id}` in the originals bucket) for an image whose upload the
  projector has not seen;
- every result: the objects the read model lists for the image's tasks, and everything
  under `{image_id}/` in the results bucket (where the processor writes a task's results,
  so results whose Completed has not been applied are found too);
- the processor's index of results by content: the entries under
  `results-by-content/r<revision>/<model sha256>/<original sha256>/` in its state bucket
  that name one of the image's tasks (entries naming another image's task stay).

Removing an object that is already gone is fine, so a purge can run any number of times. A
failure (the store unavailable) leaves the request due again after a backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import asyncpg

from services.upload.adapters import purge_queue
from services.upload.adapters.blob_store import MinioBlobStore
from services.upload.adapters.errors import BlobNotFound, Unavailable
from services.upload.adapters.postgres import postgres_errors
from services.upload.adapters.purge_queue import PurgeTarget
from services.upload.uploads import object_key

logger = logging.getLogger(__name__)

CONTENT_INDEX_PREFIX = "results-by-content/"
BATCH = 20


@dataclass(frozen=True, slots=True)
class PurgeBuckets:
    originals: str
    results: str
    content_index: str  # the processor's state bucket


class Purger:
    def __init__(
        self,
        pool: asyncpg.Pool,
        blobs: MinioBlobStore,
        buckets: PurgeBuckets,
        *,
        requester: str = "",
        max_backoff_seconds: float = 300.0,
    ) -> None:
        """``requester``: the deployment (topic prefix) whose requests this purger takes;
        another deployment sharing the database has buckets of its own."""
        self._pool = pool
        self._requester = requester
        self._blobs = blobs
        self._buckets = buckets
        self._max_backoff = max_backoff_seconds
        self.wake = asyncio.Event()

    async def purge_due(self) -> int:
        """Purge every due request, a batch per transaction; returns how many images were
        purged."""
        purged = 0
        while True:
            with postgres_errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    targets = await purge_queue.claim(conn, BATCH, self._requester)
                    for target in targets:
                        try:
                            removed = await self.purge(target)
                        except Unavailable as exc:
                            logger.warning(
                                "purge of %s failed: %s",
                                target.image_id,
                                exc,
                                extra={"image_id": target.image_id},
                            )
                            await purge_queue.failed(
                                conn, target.image_id, str(exc), self._max_backoff / 10
                            )
                            continue
                        await purge_queue.done(conn, target.image_id, removed)
                        purged += 1
                        logger.info(
                            "purged %d objects of deleted image %s",
                            removed,
                            target.image_id,
                            extra={"image_id": target.image_id, "owner": target.owner},
                        )
            if len(targets) < BATCH:
                return purged

    async def purge(self, target: PurgeTarget) -> int:
        """Remove every object of ``target``; returns how many existed."""
        originals = {(self._buckets.originals, object_key(target.owner, target.image_id))}
        if target.original is not None:
            originals.add(target.original)
        results = {
            (self._buckets.results, key)
            for key in await self._blobs.keys(self._buckets.results, f"{target.image_id}/")
        }
        for task in target.tasks:
            for result in task.results:
                results.add((str(result["bucket"]), str(result["key"])))
        removed = 0
        for bucket, key in sorted(originals | results):
            removed += await self._remove(bucket, key)
        for key in await self._index_entries(target):
            removed += await self._remove(self._buckets.content_index, key)
        return removed

    async def _remove(self, bucket: str, key: str) -> int:
        try:
            await self._blobs.stat(bucket, key)
        except BlobNotFound:
            return 0
        await self._blobs.delete(bucket, key)
        return 1

    async def _index_entries(self, target: PurgeTarget) -> list[str]:
        """Keys of the content-index entries that name one of the image's tasks."""
        models = sorted({t.model_sha256 for t in target.tasks if t.model_sha256})
        if not models or target.original_sha256 is None:
            return []
        bucket = self._buckets.content_index
        try:
            revisions = [
                k
                for k in await self._blobs.keys(bucket, CONTENT_INDEX_PREFIX, recursive=False)
                if k.endswith("/")
            ]
        except BlobNotFound:
            return []  # no processor has indexed anything in this store
        task_ids = {t.task_id for t in target.tasks}
        found: list[str] = []
        for revision in revisions:
            for model in models:
                prefix = f"{revision}{model}/{target.original_sha256}/"
                for key in await self._blobs.keys(bucket, prefix):
                    try:
                        entry = json.loads(await self._blobs.read(bucket, key))
                    except BlobNotFound:
                        continue
                    except ValueError:
                        logger.warning("content-index entry %s is not JSON; left alone", key)
                        continue
                    if isinstance(entry, dict) and entry.get("task_id") in task_ids:
                        found.append(key)
        return found


async def purge_forever(purger: Purger, interval_seconds: float, stop: asyncio.Event) -> None:
    """Purge what is due every ``interval_seconds``, or at once when woken, until ``stop``."""
    while not stop.is_set():
        # Cleared before the round, so a wake-up during it starts the next round at once.
        purger.wake.clear()
        try:
            await purger.purge_due()
        except Unavailable:
            logger.warning("purge round skipped: a dependency is unavailable", exc_info=True)
        waiters = [asyncio.ensure_future(purger.wake.wait()), asyncio.ensure_future(stop.wait())]
        _, pending = await asyncio.wait(
            waiters, timeout=interval_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
