"""A bare ONNX Runtime run of a registered model, written from its family's description
alone (scikit-image resizes, the normalisation spelled out), independent of the processor."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from skimage.transform import resize

from services.processor.models.registry import InputScale, ModelSpec


class ReferenceRun:
    def __init__(self, spec: ModelSpec, path: str) -> None:
        self.spec = spec
        self._session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """The mask in [0, 1] at the photo's size."""
        width, height = self.spec.input_size
        resized = resize(  # type: ignore[no-untyped-call]
            rgb.astype(np.float64), (height, width), order=1, anti_aliasing=False, mode="edge"
        )
        peak = resized.max() if self.spec.input_scale is InputScale.BY_MAX else 255.0
        x = (resized / max(peak, 1e-6) - np.asarray(self.spec.mean)) / np.asarray(self.spec.std)
        batch = x.transpose(2, 0, 1)[None].astype(np.float32)
        outputs = self._session.run(None, {self._session.get_inputs()[0].name: batch})
        output = np.squeeze(outputs[self.spec.output_index]).astype(np.float64)
        if self.spec.sigmoid:
            output = 1.0 / (1.0 + np.exp(-output))
        low, high = output.min(), output.max()
        normalised = (output - low) / (high - low) if high > low else np.zeros_like(output)
        mask: np.ndarray = resize(  # type: ignore[no-untyped-call]
            normalised, rgb.shape[:2], order=1, mode="edge"
        )
        return mask
