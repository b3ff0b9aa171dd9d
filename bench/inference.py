"""The model two ways: the processor's inference path, and a bare ONNX Runtime loop.

Both load the default model's file from the model cache (verified, never downloaded here
when the cache has it) and get the same preprocessed input: the processor's own
``to_model_input``. The processor's path is its ``ModelSession`` (built by
``load_session`` with the processor's settings) called through a one-thread executor from
an event loop and timed around the ``await``, exactly as the worker does; the bare loop is
``onnxruntime.InferenceSession(path)`` with only the intra-op thread count set to the
same value, and ``run(None, ...)`` timed around the call.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ModelFile:
    spec: Any  # services.processor.models.registry.ModelSpec
    path: Path
    intra_op_threads: int


def default_model() -> ModelFile:
    from services.common.settings import CommonSettings
    from services.processor.models.configured import configured_cache, configured_registry
    from services.processor.settings import ProcessorSettings

    settings = ProcessorSettings()
    spec = configured_registry(settings).get(None)
    cached = configured_cache(settings, CommonSettings()).ensure(spec)
    return ModelFile(spec, cached.path, settings.intra_op_threads)


def model_input(pixels: np.ndarray, model: ModelFile) -> np.ndarray:
    """A ``1 x 3 x h x w`` batch, preprocessed by the processor's own code."""
    from services.processor.domain.tensors import stack_batch, to_model_input

    return stack_batch([to_model_input(pixels, model.spec.input_spec)])


class BareLoop:
    """A plain ONNX Runtime session; ``run`` returns the seconds one inference took."""

    def __init__(self, model: ModelFile) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = model.intra_op_threads
        self._session = ort.InferenceSession(
            str(model.path), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> float:
        started = time.perf_counter()
        self._session.run(None, {self._input: batch})
        return time.perf_counter() - started


class ProcessorPath:
    """The processor's session, run off the event loop on a one-thread executor."""

    def __init__(self, model: ModelFile) -> None:
        from services.processor.runtime.session import load_session
        from services.processor.settings import ProcessorSettings

        self._session = load_session(model.spec, model.path, ProcessorSettings())
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bench-inference")

    async def run(self, batch: np.ndarray) -> float:
        loop = asyncio.get_running_loop()
        started = time.perf_counter_ns()
        await loop.run_in_executor(self._executor, self._session.run, batch)
        return (time.perf_counter_ns() - started) / 1e9

    def close(self) -> None:
        self._executor.shutdown(wait=True)
