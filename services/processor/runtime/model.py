"""What the pipeline needs of a loaded model, so the core does not depend on the runtime.

Two runtimes implement it: ONNX Runtime (``session.py``; CPU, CUDA or TensorRT providers)
and PyTorch running the same ONNX graph (``torch_session.py``; CUDA). ``prepare`` is the host
side of the input for one decoded image and runs on the CPU pool; ``infer`` takes a batch of
prepared inputs on the inference thread. ONNX Runtime's ``prepare`` resizes and normalises on
the CPU; PyTorch's hands the decoded pixels on and does both on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from schemas.values import ExecutionProvider, InferenceRuntime, ModelRef
from services.processor.domain.tensors import InputSpec


class LoadedModel(Protocol):
    @property
    def ref(self) -> ModelRef: ...

    @property
    def runtime(self) -> InferenceRuntime: ...

    @property
    def provider(self) -> ExecutionProvider: ...

    @property
    def max_batch(self) -> int: ...

    @property
    def input_spec(self) -> InputSpec: ...

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """The host-side input for one ``H x W x 3`` uint8 RGB image; blocking, thread-safe."""
        ...

    def infer(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """The masks (``N x 1 x h x w`` at the model's size) for ``N`` prepared inputs;
        blocking."""
        ...

    def warm_up(self, runs: int) -> list[float]: ...
