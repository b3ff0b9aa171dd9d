"""Nodes listed out of order are put in topological order, and the graph still computes the
same thing (checked by running both with ONNX Runtime)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from services.processor.models.graph_order import topologically_sorted


def model_of(nodes: list[onnx.NodeProto]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph(nodes, "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def chain() -> list[onnx.NodeProto]:
    return [
        helper.make_node("Relu", ["x"], ["a"], name="first"),
        helper.make_node("Sigmoid", ["a"], ["b"], name="second"),
        helper.make_node("Add", ["a", "b"], ["y"], name="third"),
    ]


def positions(model: onnx.ModelProto) -> dict[str, int]:
    return {node.name: index for index, node in enumerate(model.graph.node)}


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(None, {"x": x})[0]
    return result


def test_nodes_used_before_they_are_made_move_after_their_producers() -> None:
    first, second, third = chain()
    shuffled = model_of([third, second, first])
    ordered = topologically_sorted(shuffled)
    where = positions(ordered)
    assert where["first"] < where["second"] < where["third"]
    x = np.array([[-1.0, 0.0, 0.5, 2.0]], dtype=np.float32)
    assert np.array_equal(run(ordered, x), run(model_of(chain()), x))
    assert [n.name for n in shuffled.graph.node] == ["third", "second", "first"]  # untouched


def test_an_ordered_graph_keeps_its_order() -> None:
    model = model_of(chain())
    assert list(positions(topologically_sorted(model))) == ["first", "second", "third"]


def test_a_cycle_is_refused() -> None:
    nodes = [
        helper.make_node("Relu", ["x", "b"], ["a"], name="one"),
        helper.make_node("Sigmoid", ["a"], ["b"], name="two"),
        helper.make_node("Identity", ["b"], ["y"], name="three"),
    ]
    with pytest.raises(ValueError, match="cycle"):
        topologically_sorted(model_of(nodes))
