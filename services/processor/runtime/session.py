"""An ONNX Runtime session for one model: providers, threads, optimisation, warm-up, runs.

``run`` is blocking and must be called off the event loop (the worker uses a one-thread
executor for it: ONNX Runtime parallelises inside a run with its own intra-op threads).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from schemas.values import ExecutionProvider, InferenceRuntime, ModelRef
from services.processor.domain.tensors import InputSpec, stack_batch, to_model_input
from services.processor.models.batch_axis import dynamic_batch_model
from services.processor.models.registry import ModelSpec
from services.processor.runtime.providers import choose_providers, default_batch
from services.processor.settings import GraphOptimization, ProcessorSettings

logger = logging.getLogger(__name__)

_OPTIMISATION = {
    GraphOptimization.DISABLED: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    GraphOptimization.BASIC: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    GraphOptimization.EXTENDED: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    GraphOptimization.ALL: ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class ModelSession:
    """A loaded model ready to run batches of preprocessed inputs."""

    runtime = InferenceRuntime.ONNXRUNTIME

    def __init__(
        self,
        spec: ModelSpec,
        session: ort.InferenceSession,
        provider: ExecutionProvider,
        max_batch: int,
    ) -> None:
        self.spec = spec
        self.provider = provider
        self.max_batch = max_batch
        self._session = session
        self._input = session.get_inputs()[0].name
        self._output = session.get_outputs()[spec.output_index].name

    @property
    def ref(self) -> ModelRef:
        return self.spec.ref

    @property
    def input_spec(self) -> InputSpec:
        return self.spec.input_spec

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Resized and normalised on the CPU: the ``3 x h x w`` float32 input."""
        return to_model_input(rgb, self.input_spec)

    def infer(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return self.run(stack_batch(list(inputs)))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The mask output for an ``N x 3 x h x w`` batch, as ``N x ... x h x w``."""
        if batch.shape[0] > self.max_batch:
            raise ValueError(f"batch of {batch.shape[0]} exceeds this session's {self.max_batch}")
        outputs = self._session.run([self._output], {self._input: batch})
        result: np.ndarray = outputs[0]
        return result

    def warm_up(self, runs: int) -> list[float]:
        """Run ``runs`` inferences on a neutral image; return their durations in seconds."""
        spec = self.input_spec
        blank = np.zeros((1, 3, spec.height, spec.width), dtype=np.float32)
        durations = []
        for _ in range(runs):
            started = time.perf_counter()
            self.run(blank)
            durations.append(time.perf_counter() - started)
        return durations


def onnxruntime_providers() -> list[str]:
    """The execution providers the installed ONNX Runtime offers."""
    providers: list[str] = ort.get_available_providers()
    return providers


def load_session(spec: ModelSpec, path: Path, settings: ProcessorSettings) -> ModelSession:
    """Create the session with the configured providers, threads and optimisation.

    The batch size is the setting, or the provider's default; a model is given a dynamic
    batch axis only when batches of more than one are wanted.
    """
    providers = choose_providers(settings.provider, ort.get_available_providers())
    expected = ExecutionProvider.from_onnxruntime(providers[0])
    max_batch = settings.max_batch or default_batch(expected)
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = _OPTIMISATION[settings.graph_optimization]
    options.enable_mem_pattern = settings.memory_pattern
    model: str | bytes = dynamic_batch_model(path) if max_batch > 1 else str(path)
    session = ort.InferenceSession(model, options, providers=providers)
    actual = ExecutionProvider.from_onnxruntime(session.get_providers()[0])
    if actual is not expected:
        logger.warning("execution provider %s was not usable; running on %s", expected, actual)
        if settings.max_batch is None:
            max_batch = default_batch(actual)
    logger.info(
        "loaded model %s %s on %s (max batch %d, %d intra-op threads, optimisation %s)",
        spec.name,
        spec.version,
        actual.value,
        max_batch,
        settings.intra_op_threads,
        settings.graph_optimization.value,
    )
    return ModelSession(spec, session, actual, max_batch)
