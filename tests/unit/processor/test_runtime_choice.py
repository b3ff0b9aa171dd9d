"""Which runtime the worker picks for each machine, without importing PyTorch."""

from __future__ import annotations

import pytest

from schemas.values import InferenceRuntime
from services.processor.runtime.choice import choose_runtime
from services.processor.runtime.providers import CPU, CUDA, TENSORRT
from services.processor.settings import ProviderChoice, RuntimeChoice

ORT_CPU = [CPU]
ORT_GPU = [TENSORRT, CUDA, CPU]


def never_asked() -> bool:
    raise AssertionError("PyTorch was probed although the answer cannot change the choice")


@pytest.mark.parametrize(
    ("ort", "torch_cuda", "expected"),
    [
        (ORT_GPU, False, InferenceRuntime.ONNXRUNTIME),
        (ORT_GPU, True, InferenceRuntime.ONNXRUNTIME),
        (ORT_CPU, True, InferenceRuntime.TORCH),
        (ORT_CPU, False, InferenceRuntime.ONNXRUNTIME),
    ],
)
def test_auto_prefers_onnxruntime_on_a_gpu_then_torch_then_the_cpu(
    ort: list[str], torch_cuda: bool, expected: InferenceRuntime
) -> None:
    assert (
        choose_runtime(RuntimeChoice.AUTO, ProviderChoice.AUTO, ort, lambda: torch_cuda) is expected
    )


def test_auto_does_not_probe_torch_when_onnxruntime_has_an_accelerator() -> None:
    chosen = choose_runtime(RuntimeChoice.AUTO, ProviderChoice.AUTO, ORT_GPU, never_asked)
    assert chosen is InferenceRuntime.ONNXRUNTIME


def test_an_explicit_provider_means_onnxruntime() -> None:
    chosen = choose_runtime(RuntimeChoice.AUTO, ProviderChoice.CPU, ORT_CPU, never_asked)
    assert chosen is InferenceRuntime.ONNXRUNTIME


@pytest.mark.parametrize("runtime", [InferenceRuntime.ONNXRUNTIME, InferenceRuntime.TORCH])
def test_an_explicit_runtime_is_taken_as_asked(runtime: InferenceRuntime) -> None:
    chosen = choose_runtime(RuntimeChoice(runtime.value), ProviderChoice.AUTO, ORT_GPU, never_asked)
    assert chosen is runtime


def test_the_torch_runtime_without_pytorch_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from services.processor.models.configured import configured_registry
    from services.processor.runtime import torch_session
    from services.processor.runtime.choice import RuntimeUnavailable
    from services.processor.settings import ProcessorSettings

    monkeypatch.setattr(torch_session, "torch_installed", lambda: False)
    settings = ProcessorSettings()
    spec = configured_registry(settings).get(None)
    with pytest.raises(RuntimeUnavailable, match=r"pip install '\.\[torch\]'"):
        torch_session.load_torch_model(spec, Path("unused.onnx"), settings)
