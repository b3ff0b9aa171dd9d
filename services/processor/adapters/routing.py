"""The model routing as operators set it, read from the processor's state bucket and
cached for a few seconds, so a change reaches every worker without a restart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from services.processor.adapters.blobstore import BlobStore, ObjectMissing, StoreError
from services.processor.domain.routing import ROUTING_KEY, InvalidRouting, ModelRouting

logger = logging.getLogger(__name__)


class RoutingSource:
    """``current()`` answers the routing read at most ``refresh_seconds`` ago. When the
    store cannot be read, or holds a routing that names a model this worker does not know,
    the last good routing stays in force (and the problem is logged)."""

    def __init__(
        self,
        store: BlobStore,
        bucket: str,
        known: Callable[[str], bool],
        refresh_seconds: float,
    ) -> None:
        self._store = store
        self._bucket = bucket
        self._known = known
        self._refresh = refresh_seconds
        self._routing = ModelRouting()
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> ModelRouting:
        if self._fresh():
            return self._routing
        async with self._lock:
            if not self._fresh():
                await self._reload()
                self._read_at = time.monotonic()
        return self._routing

    def _fresh(self) -> bool:
        return self._read_at is not None and time.monotonic() - self._read_at < self._refresh

    async def _reload(self) -> None:
        try:
            data = await self._store.get(self._bucket, ROUTING_KEY)
        except ObjectMissing:
            routing = ModelRouting()
        except StoreError as exc:  # a store outage keeps the last routing; tasks carry on
            logger.warning("cannot read the model routing, keeping the last one: %s", exc)
            return
        else:
            try:
                routing = ModelRouting.from_json(data)
            except InvalidRouting as exc:
                logger.error("%s; keeping the last one", exc)
                return
        unknown = [n for n in (routing.default, routing.canary) if n and not self._known(n)]
        if unknown:
            logger.error("the model routing names unknown models %s; keeping the last one", unknown)
            return
        if routing != self._routing:
            logger.info(
                "model routing: default %s, canary %s at %g %%",
                routing.default or "(registry's)",
                routing.canary or "none",
                routing.canary_percent,
            )
        self._routing = routing
