"""The default model for the local stack, fetched and verified by the processor's model cache.

The registry (``services/processor/models/registry.toml``) names the default model, its
sha256 and its sources; the cache downloads, verifies and installs it atomically. The stack
only asks for it to be there, so ``clearcut stack up`` and ``clearcut models pull`` share
one mechanism and one cache directory (``CLEARCUT_MODEL_CACHE``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from services.common.settings import CommonSettings
from services.devstack.component import Status
from services.devstack.process import StackError
from services.processor.models.cache import CacheState, ModelCache, ModelCacheError
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.models.registry import ModelSpec, RegistryError
from services.processor.settings import ProcessorSettings


def default_model(settings: CommonSettings) -> tuple[ModelCache, ModelSpec]:
    processor = ProcessorSettings()
    try:
        spec = configured_registry(processor).get(None)
    except RegistryError as exc:
        raise StackError(f"model: {exc}") from exc
    return configured_cache(processor, settings), spec


def model_path(settings: CommonSettings) -> Path:
    cache, spec = default_model(settings)
    return cache.path(spec)


def model_ok(settings: CommonSettings) -> bool:
    """Cheap check used on every start: present, right size, metadata says verified."""
    cache, spec = default_model(settings)
    return cache.quick_state(spec) is CacheState.VERIFIED


def fetch(settings: CommonSettings, log: Path) -> Path:
    """Fetch and verify the default model into the cache; a no-op when already there."""
    cache, spec = default_model(settings)
    if cache.quick_state(spec) is CacheState.VERIFIED:
        return cache.path(spec)
    sources = ", ".join(s.describe() for s in cache.sources(spec))
    print(
        f"Fetching the default model {spec.name} {spec.version} ({spec.size:,} bytes) "
        f"from the first of: {sources}.",
        flush=True,
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    models_logger = logging.getLogger("services.processor.models")
    models_logger.addHandler(handler)
    models_logger.setLevel(logging.INFO)
    try:
        return cache.pull(spec).path
    except ModelCacheError as exc:
        raise StackError(f"model: {exc}") from exc
    finally:
        models_logger.removeHandler(handler)
        handler.close()


def fetch_model(settings: CommonSettings) -> Path:
    """The default model through the processor's model cache (fetched if missing)."""
    return fetch(settings, settings.paths.home / "logs" / "build-model.log")


def model_status(settings: CommonSettings) -> Status:
    cache, spec = default_model(settings)
    ok = model_ok(settings)
    return Status(
        name="model",
        running=ok,
        healthy=ok,
        version=f"{spec.name} {spec.version}",
        address=str(cache.path(spec)),
        log=settings.paths.home / "logs" / "build-model.log",
    )
