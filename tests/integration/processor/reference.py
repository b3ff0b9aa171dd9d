"""A bare ONNX Runtime run of the default model, written independently of the processor:
scikit-image for both resizes, the registry's normalisation spelled out by hand."""

from __future__ import annotations

from functools import cache

import numpy as np
import onnxruntime as ort
from skimage.transform import resize

from services.common.settings import CommonSettings
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.settings import ProcessorSettings


@cache
def default_model_path() -> str:
    settings = ProcessorSettings()
    spec = configured_registry(settings).get(None)
    return str(configured_cache(settings, CommonSettings()).ensure(spec).path)


@cache
def bare_session() -> ort.InferenceSession:
    return ort.InferenceSession(default_model_path(), providers=["CPUExecutionProvider"])


def model_input(rgb: np.ndarray) -> np.ndarray:
    """ISNet's input: bilinear (half-pixel, no anti-aliasing) to 1024x1024, /255 - 0.5, NCHW."""
    resized = resize(  # type: ignore[no-untyped-call]
        rgb.astype(np.float64), (1024, 1024), order=1, anti_aliasing=False, mode="edge"
    )
    x = resized / 255.0 - 0.5
    batch: np.ndarray = x.transpose(2, 0, 1)[None].astype(np.float32)
    return batch


def reference_mask(rgb: np.ndarray) -> np.ndarray:
    """The mask in [0, 1] at the image's size."""
    session = bare_session()
    output = session.run(None, {session.get_inputs()[0].name: model_input(rgb)})[0][0, 0]
    low, high = float(output.min()), float(output.max())
    normalised = (output - low) / (high - low)
    mask: np.ndarray = resize(  # type: ignore[no-untyped-call]
        normalised, rgb.shape[:2], order=1, mode="edge"
    )
    return mask
