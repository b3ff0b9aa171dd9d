"""The registered ONNX model run by PyTorch, for GPU machines without ``onnxruntime-gpu``.

The graph is converted at load time with ``onnx2torch`` (the file is the same one ONNX
Runtime runs: same registry entry, same sha256). Pre-processing happens on the device: the
CPU only decodes, the pixels travel as uint8 through a pinned staging buffer per batch slot,
and the resize is ``torch.nn.functional.interpolate(..., mode="bilinear",
align_corners=False)``, which is the DIS reference's own resize. On CUDA the model runs under
fp16 autocast unless ``torch_precision = fp32``; outputs come back as float32.

PyTorch is imported only when this runtime is chosen; development machines never need it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from schemas.values import ExecutionProvider, InferenceRuntime, ModelRef
from services.processor.domain.tensors import InputSpec
from services.processor.models.batch_axis import dynamic_batch_model
from services.processor.models.graph_order import topologically_sorted
from services.processor.models.registry import ModelSpec
from services.processor.runtime.choice import RuntimeUnavailable, torch_installed
from services.processor.runtime.providers import GPU_DEFAULT_BATCH
from services.processor.settings import Precision, ProcessorSettings

logger = logging.getLogger(__name__)


class TorchModel:
    """A converted model on one device; ``infer`` is called from one thread at a time."""

    runtime = InferenceRuntime.TORCH

    def __init__(
        self, spec: ModelSpec, module: Any, device: str, max_batch: int, half: bool
    ) -> None:
        import torch

        self.spec = spec
        self.max_batch = max_batch
        self.provider = ExecutionProvider.CUDA if device == "cuda" else ExecutionProvider.CPU
        self.half = half and device == "cuda"
        self._torch = torch
        self._device = torch.device(device)
        self._module = module.to(self._device).eval()
        spec_in = spec.input_spec
        shape = (1, 3, 1, 1)
        self._scale = (
            1.0 / (255.0 * torch.tensor(spec_in.std, dtype=torch.float32, device=self._device))
        ).reshape(shape)
        self._offset = (
            torch.tensor(spec_in.mean, dtype=torch.float32, device=self._device)
            / torch.tensor(spec_in.std, dtype=torch.float32, device=self._device)
        ).reshape(shape)
        self._pinned = self._device.type == "cuda"
        self._staging: list[Any] = []

    @property
    def ref(self) -> ModelRef:
        return self.spec.ref

    @property
    def input_spec(self) -> InputSpec:
        return self.spec.input_spec

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """The decoded pixels themselves: resize and normalisation run on the device."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 RGB array, got {rgb.shape} {rgb.dtype}")
        return rgb

    def infer(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        torch = self._torch
        if len(inputs) > self.max_batch:
            raise ValueError(f"batch of {len(inputs)} exceeds this model's {self.max_batch}")
        spec = self.input_spec
        with torch.inference_mode():
            planes = []
            for slot, rgb in enumerate(inputs):
                pixels = self._to_device(slot, rgb)
                image = pixels.permute(2, 0, 1).unsqueeze(0).to(torch.float32)
                planes.append(
                    torch.nn.functional.interpolate(
                        image, size=(spec.height, spec.width), mode="bilinear", align_corners=False
                    )
                )
            batch = torch.cat(planes) * self._scale - self._offset
            with torch.autocast(self._device.type, dtype=torch.float16, enabled=self.half):
                outputs = self._module(batch)
            mask = _pick(outputs, self.spec.output_index)
            result: np.ndarray = mask.to(torch.float32).cpu().numpy()
        return result

    def _to_device(self, slot: int, rgb: np.ndarray) -> Any:
        torch = self._torch
        if not self._pinned:
            return torch.from_numpy(np.array(rgb, copy=True)).to(self._device)
        # One pinned buffer per batch slot, grown as needed; ``infer`` ends with a copy back
        # to the host, which waits for these uploads, so a slot is free again next call.
        while len(self._staging) <= slot:
            self._staging.append(torch.empty(0, dtype=torch.uint8).pin_memory())
        if self._staging[slot].numel() < rgb.size:
            self._staging[slot] = torch.empty(rgb.size, dtype=torch.uint8).pin_memory()
        host = self._staging[slot][: rgb.size].view(rgb.shape)
        np.copyto(host.numpy(), rgb)
        return host.to(self._device, non_blocking=True)

    def warm_up(self, runs: int) -> list[float]:
        spec = self.input_spec
        blank = np.zeros((spec.height, spec.width, 3), dtype=np.uint8)
        durations = []
        for _ in range(runs):
            started = time.perf_counter()
            self.infer([blank])
            durations.append(time.perf_counter() - started)
        return durations


def _pick(outputs: Any, index: int) -> Any:
    if isinstance(outputs, list | tuple):
        return outputs[index]
    if index != 0:
        raise ValueError(f"the converted model has one output, the registry wants #{index}")
    return outputs


def load_torch_model(spec: ModelSpec, path: Path, settings: ProcessorSettings) -> TorchModel:
    """Convert the model file with onnx2torch and put it on CUDA (or the CPU when PyTorch
    sees no GPU, which is slow and meant for checking the conversion only)."""
    if not torch_installed():
        raise RuntimeUnavailable(
            "the torch runtime needs PyTorch and onnx2torch (pip install '.[torch]')"
        )
    import onnx
    import torch
    from onnx2torch import convert

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        logger.warning("PyTorch sees no CUDA device; the torch runtime runs on the CPU")
    max_batch = settings.max_batch or (GPU_DEFAULT_BATCH if device == "cuda" else 1)
    graph = topologically_sorted(
        onnx.load_from_string(dynamic_batch_model(path)) if max_batch > 1 else onnx.load(path)
    )
    half = settings.torch_precision is Precision.FP16
    model = TorchModel(spec, convert(graph), device, max_batch, half)
    logger.info(
        "loaded model %s %s with PyTorch %s on %s (max batch %d, %s)",
        spec.name,
        spec.version,
        torch.__version__,
        device,
        max_batch,
        "fp16 autocast" if model.half else "fp32",
    )
    return model
