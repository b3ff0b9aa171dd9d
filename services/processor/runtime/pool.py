"""The models a worker has loaded, by registry name; others are loaded on first use.

Loading (verify or fetch into the cache, build the session, warm up) is blocking and runs
on the inference executor, so it never overlaps a run and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from schemas.values import FailureReason
from services.processor.domain.errors import ProcessingError
from services.processor.models.cache import ModelCache, ModelCacheError
from services.processor.models.registry import ModelSpec, Registry, RegistryError
from services.processor.runtime.model import LoadedModel

logger = logging.getLogger(__name__)

SessionFactory = Callable[[ModelSpec], LoadedModel]


def cached_session_factory(
    cache: ModelCache, load: Callable[[ModelSpec, Path], LoadedModel], warmup_runs: int
) -> SessionFactory:
    """Verify or fetch the model file, then build and warm up its session."""

    def build(spec: ModelSpec) -> LoadedModel:
        cached = cache.ensure(spec)
        session = load(spec, cached.path)
        durations = session.warm_up(warmup_runs)
        if durations:
            logger.info(
                "warmed up %s with %d runs: %s s",
                spec.name,
                len(durations),
                ", ".join(f"{d:.2f}" for d in durations),
            )
        return session

    return build


class ModelPool:
    def __init__(self, registry: Registry, factory: SessionFactory, executor: Executor) -> None:
        self.registry = registry
        self._factory = factory
        self._executor = executor
        self._sessions: dict[str, LoadedModel] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def default(self) -> LoadedModel | None:
        return self._sessions.get(self.registry.default)

    def spec(self, name: str | None) -> ModelSpec:
        try:
            return self.registry.get(name)
        except RegistryError as exc:
            raise ProcessingError(FailureReason.MODEL_UNKNOWN, str(exc)) from None

    async def get(self, name: str | None) -> LoadedModel:
        """The session of the named model (default for ``None``), loading it if needed."""
        spec = self.spec(name)
        session = self._sessions.get(spec.name)
        if session is not None:
            return session
        lock = self._locks.setdefault(spec.name, asyncio.Lock())
        async with lock:
            session = self._sessions.get(spec.name)
            if session is None:
                session = await self._load(spec)
                self._sessions[spec.name] = session
        return session

    async def _load(self, spec: ModelSpec) -> LoadedModel:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._factory, spec)
        except ModelCacheError as exc:
            raise ProcessingError(
                FailureReason.MODEL_UNAVAILABLE, str(exc), retriable=exc.retriable
            ) from None
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime's errors derive from Exception
            raise ProcessingError(
                FailureReason.MODEL_ERROR, f"model {spec.name} cannot be loaded: {exc}"
            ) from None
