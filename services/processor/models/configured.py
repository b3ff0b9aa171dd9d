"""The registry and the model cache as the settings configure them (no ONNX imports here,
so the stack tooling and the CLI can use them without the inference runtime)."""

from __future__ import annotations

from services.common.settings import CommonSettings
from services.processor.models.cache import ModelCache
from services.processor.models.registry import Registry, load_registry
from services.processor.models.sources import FetchContext
from services.processor.settings import ProcessorSettings


def configured_registry(settings: ProcessorSettings) -> Registry:
    """The registry file, with the default model overridden by the settings if set; models
    whose weights forbid commercial use are refused unless the settings accept them."""
    registry = load_registry(settings.registry_file)
    if not settings.accept_non_commercial:
        registry = registry.refusing_non_commercial()
    return registry.with_default(settings.default_model)


def configured_cache(settings: ProcessorSettings, common: CommonSettings) -> ModelCache:
    """The cache in ``CLEARCUT_MODEL_CACHE`` with the source placeholders filled in."""
    placeholders = {
        "model_dir": settings.model_dir,
        "model_mirror": settings.model_mirror,
        "models_bucket": settings.models_bucket,
    }
    context = FetchContext(
        s3=common.s3, workdir=common.paths.model_cache, package_index=settings.package_index
    )
    return ModelCache(common.paths.model_cache, placeholders, context)
