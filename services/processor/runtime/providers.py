"""Which ONNX Runtime execution providers to ask for, and what follows from the choice."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.values import ExecutionProvider
from services.processor.settings import ProviderChoice

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

_WANTED = {
    ProviderChoice.TENSORRT: [TENSORRT, CUDA, CPU],
    ProviderChoice.CUDA: [CUDA, CPU],
    ProviderChoice.CPU: [CPU],
}
GPU_DEFAULT_BATCH = 4


class ProviderUnavailable(RuntimeError):
    """An explicitly requested provider is not offered by the installed ONNX Runtime."""


def choose_providers(choice: ProviderChoice, available: Sequence[str]) -> list[str]:
    """The providers for ``InferenceSession``, most preferred first, CPU always last.

    ``auto`` takes TensorRT and CUDA when the installed runtime offers them; an explicit
    choice that is not offered is an error rather than a quiet fall back to the CPU.
    """
    offered = set(available)
    if choice is ProviderChoice.AUTO:
        return [p for p in (TENSORRT, CUDA) if p in offered] + [CPU]
    primary = _WANTED[choice][0]
    if primary not in offered:
        raise ProviderUnavailable(
            f"execution provider {choice.value} was requested but ONNX Runtime offers only "
            f"{', '.join(sorted(offered)) or 'nothing'}"
        )
    return [p for p in _WANTED[choice] if p in offered]


def default_batch(provider: ExecutionProvider) -> int:
    """One image at a time on the CPU (batching buys nothing there); small batches on a GPU."""
    return 1 if provider is ExecutionProvider.CPU else GPU_DEFAULT_BATCH
