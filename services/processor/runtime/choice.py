"""Which runtime runs the model: ONNX Runtime or PyTorch (the same ONNX graph, converted).

The choice is pure; ``probe_torch_cuda`` is the one question it needs answered from outside,
asked only when it matters, since importing PyTorch takes seconds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence

from schemas.values import InferenceRuntime
from services.processor.runtime.providers import CUDA, TENSORRT
from services.processor.settings import ProviderChoice, RuntimeChoice


class RuntimeUnavailable(RuntimeError):
    """The PyTorch runtime was requested, but PyTorch or its ONNX converter is missing."""


def choose_runtime(
    choice: RuntimeChoice,
    provider: ProviderChoice,
    ort_providers: Sequence[str],
    torch_cuda: Callable[[], bool],
) -> InferenceRuntime:
    """``auto`` keeps ONNX Runtime when it has an accelerator (or the CPU was asked for
    explicitly), takes PyTorch when that sees a CUDA device, and falls back to ONNX Runtime
    on the CPU."""
    if choice is RuntimeChoice.ONNXRUNTIME:
        return InferenceRuntime.ONNXRUNTIME
    if choice is RuntimeChoice.TORCH:
        return InferenceRuntime.TORCH
    if provider is not ProviderChoice.AUTO or {CUDA, TENSORRT} & set(ort_providers):
        return InferenceRuntime.ONNXRUNTIME
    return InferenceRuntime.TORCH if torch_cuda() else InferenceRuntime.ONNXRUNTIME


def torch_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "onnx2torch"))


def probe_torch_cuda() -> bool:
    """Whether PyTorch and onnx2torch are installed and PyTorch sees a CUDA device."""
    if not torch_installed():
        return False
    import torch

    return bool(torch.cuda.is_available())
