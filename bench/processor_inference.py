"""Per-image inference of the processor's model session against a bare ONNX Runtime loop.

Both run the same cached default model on the same preprocessed images; runs alternate
(processor, bare, processor, bare, ...) so that load from other processes on the machine
hits both sides alike. The processor's side is ``ModelSession.run`` exactly as the worker
calls it (its session options, only the mask output fetched); the bare side is
``onnxruntime.InferenceSession(path)`` with default options and ``run(None, ...)``.

    .venv/bin/python -m bench.processor_inference --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

from services.common.settings import CommonSettings
from services.processor.domain.tensors import stack_batch, to_model_input
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.runtime.session import load_session
from services.processor.settings import ProcessorSettings
from tests.unit.processor import samples


def out(text: str) -> None:
    sys.stdout.write(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="images per side")
    args = parser.parse_args()

    settings = ProcessorSettings()
    spec = configured_registry(settings).get(None)
    path = configured_cache(settings, CommonSettings()).ensure(spec).path
    processor = load_session(spec, path, settings)
    bare = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    bare_input = bare.get_inputs()[0].name

    photos = [samples.photo("astronaut"), samples.photo("coffee")]
    inputs = [stack_batch([to_model_input(p, processor.input_spec)]) for p in photos]
    for x in inputs:  # warm both up on both images
        processor.run(x)
        bare.run(None, {bare_input: x})

    # Wall time and process CPU time (all of ONNX Runtime's threads) of each run.
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for round_ in range(args.rounds):
        x = inputs[round_ % len(inputs)]
        order = (ours, theirs) if round_ % 2 == 0 else (theirs, ours)
        for timings in order:
            wall, cpu = time.perf_counter(), time.process_time()
            if timings is ours:
                processor.run(x)
            else:
                bare.run(None, {bare_input: x})
            timings.append((time.perf_counter() - wall, time.process_time() - cpu))

    def describe(values: list[float]) -> str:
        ms = np.array(values) * 1000
        return (
            f"median {statistics.median(ms):7.1f}  mean {ms.mean():7.1f}  "
            f"min {ms.min():7.1f}  max {ms.max():7.1f} ms"
        )

    out(f"model {spec.name} {spec.version} on {processor.provider.value}, {args.rounds} runs each")
    for what, index in (("wall", 0), ("cpu ", 1)):
        out(f"{what} processor session : {describe([t[index] for t in ours])}")
        out(f"{what} bare ONNX Runtime : {describe([t[index] for t in theirs])}")
    pairs = [a[0] / b[0] for a, b in zip(ours, theirs, strict=True)]
    out(
        f"processor / bare: median of per-round wall ratios {statistics.median(pairs):.3f}, "
        f"of minimum wall times {min(t[0] for t in ours) / min(t[0] for t in theirs):.3f}, "
        f"of median cpu times "
        f"{statistics.median(t[1] for t in ours) / statistics.median(t[1] for t in theirs):.3f}"
    )


if __name__ == "__main__":
    main()
