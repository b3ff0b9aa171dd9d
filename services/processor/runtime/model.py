"""What the pipeline needs of a loaded model, so the core does not depend on ONNX Runtime."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from schemas.values import ExecutionProvider, ModelRef
from services.processor.domain.tensors import InputSpec


class LoadedModel(Protocol):
    @property
    def ref(self) -> ModelRef: ...

    @property
    def provider(self) -> ExecutionProvider: ...

    @property
    def max_batch(self) -> int: ...

    @property
    def input_spec(self) -> InputSpec: ...

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Outputs (the mask) for an ``N x 3 x h x w`` batch; blocking."""
        ...

    def warm_up(self, runs: int) -> list[float]: ...
