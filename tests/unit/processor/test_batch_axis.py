"""A fixed batch of 1 made dynamic, on a tiny convolutional model built here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from schemas.values import ExecutionProvider
from services.processor.models.batch_axis import BATCH_DIM, dynamic_batch_model
from services.processor.models.registry import ModelSpec, SourceKind, SourceSpec
from services.processor.runtime.session import load_session
from services.processor.settings import ProcessorSettings, ProviderChoice


def tiny_model(path: Path) -> Path:
    """Conv(3->1, 3x3) + Sigmoid with batch 1 fixed on input, output and value_info."""
    rng = np.random.default_rng(7)
    weight = numpy_helper.from_array(rng.normal(size=(1, 3, 3, 3)).astype(np.float32), "w")
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 8, 8])
    mid = helper.make_tensor_value_info("conv", TensorProto.FLOAT, [1, 1, 8, 8])
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["conv"], pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["conv"], ["output"]),
        ],
        "tiny",
        [x],
        [y],
        initializer=[weight],
        value_info=[mid],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_fixed_model_refuses_a_batch(tmp_path: Path) -> None:
    session = ort.InferenceSession(str(tiny_model(tmp_path / "m.onnx")))
    with pytest.raises(Exception, match=r"(?i)dimension|shape"):
        session.run(None, {"input": np.zeros((2, 3, 8, 8), np.float32)})


def test_dynamic_batch_equals_single_runs(tmp_path: Path) -> None:
    data = dynamic_batch_model(tiny_model(tmp_path / "m.onnx"))
    model = onnx.load_from_string(data)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == BATCH_DIM
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == BATCH_DIM
    assert len(model.graph.value_info) == 0
    session = ort.InferenceSession(data)
    batch = np.random.default_rng(1).normal(size=(4, 3, 8, 8)).astype(np.float32)
    together = session.run(None, {"input": batch})[0]
    singles = np.concatenate([session.run(None, {"input": batch[i : i + 1]})[0] for i in range(4)])
    assert together.shape == (4, 1, 8, 8)
    assert np.abs(together - singles).max() < 1e-5


def test_session_loads_on_the_cpu_with_the_configured_batch(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "m.onnx")
    spec = ModelSpec(
        name="tiny",
        version="1",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        size=path.stat().st_size,
        input_size=(8, 8),
        mean=(0.5, 0.5, 0.5),
        std=(1.0, 1.0, 1.0),
        sources=(SourceSpec(kind=SourceKind.FILE, location=str(path)),),
    )
    single = load_session(spec, path, ProcessorSettings(provider=ProviderChoice.AUTO))
    assert single.provider is ExecutionProvider.CPU
    assert single.max_batch == 1
    assert len(single.warm_up(2)) == 2
    batched = load_session(spec, path, ProcessorSettings(max_batch=3, intra_op_threads=1))
    assert batched.max_batch == 3
    out = batched.run(np.zeros((3, 3, 8, 8), np.float32))
    assert out.shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="exceeds"):
        batched.run(np.zeros((4, 3, 8, 8), np.float32))
