"""Make a model's batch axis dynamic so that one ``session.run`` can take N images.

Models exported with a fixed batch of 1 declare it on their inputs, outputs and the
intermediate shapes recorded in ``graph.value_info``. Declaring the first axis of every
graph input and output symbolic and dropping the recorded intermediate shapes (ONNX Runtime
infers them again) is enough for fully convolutional models such as ISNet. Whether the
result is *correct* is a property of the model, so it is proven by a test comparing a batch
with single runs, not assumed.
"""

from __future__ import annotations

from pathlib import Path

import onnx

BATCH_DIM = "batch"


def dynamic_batch_model(path: Path) -> bytes:
    """The serialised model at ``path`` with a symbolic batch axis."""
    model = onnx.load(str(path))
    initialisers = {init.name for init in model.graph.initializer}
    values = [v for v in model.graph.input if v.name not in initialisers]
    values += list(model.graph.output)
    for value in values:
        shape = value.type.tensor_type.shape
        if not shape.dim:
            raise ValueError(f"{path.name}: {value.name!r} has no shape to make batched")
        first = shape.dim[0]
        first.ClearField("dim_value")
        first.dim_param = BATCH_DIM
    del model.graph.value_info[:]
    data: bytes = model.SerializeToString()
    return data
