"""Inference parity: the processor's inference path against a bare ONNX Runtime loop.

Three contenders on the same model file, the same preprocessed photos and the same
intra-op thread setting, interleaved round by round (the order rotates every round, so
load from elsewhere hits each alike):

- the running worker: a fresh upload through the pipeline, its ``inference_ms`` from the
  Completed event's timing breakdown (the deployed path, in its own process);
- the processor's path in this process: its ``ModelSession`` through a one-thread executor
  (see ``bench.inference``);
- a bare ``onnxruntime.InferenceSession`` loop;
- a second, identical bare session: a control. Its ratio to the first shows how far apart
  two identical contenders land in this run, that is, the noise the others are read
  against.

While one runs, the others are idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bench.client import PipelineClient
from bench.inference import BareLoop, ProcessorPath, default_model, model_input
from bench.photos import fresh_jpeg, photos
from bench.results import Metric, Plot, ScenarioResult, Series, Table, Target
from bench.scenarios.context import Context
from bench.stats import median, paired_ratios, ratio, summarise

TITLE = "Inference parity: the processor's inference against a bare ONNX Runtime loop"
WORKER, PATH = "worker (pipeline)", "processor path (in process)"
BARE, CONTROL = "bare ONNX Runtime", "bare ONNX Runtime, second session (control)"
SHORT = {WORKER: "worker", PATH: "path", BARE: "bare", CONTROL: "control"}
WARMUP_RUNS = 2


def run(ctx: Context, n: int) -> ScenarioResult:
    return asyncio.run(_run(ctx, n))


async def _run(ctx: Context, n: int) -> ScenarioResult:
    pipeline = ctx.pipeline
    model = default_model()
    images = photos()
    names = list(images)
    inputs = {name: model_input(pixels, model) for name, pixels in images.items()}
    ctx.say(f"  loading {model.spec.name} {model.spec.version} twice (processor path, bare)")
    path, bare, control = ProcessorPath(model), BareLoop(model), BareLoop(model)
    for x in inputs.values():
        for _ in range(WARMUP_RUNS):
            await path.run(x)
            bare.run(x)
            control.run(x)
    times: dict[str, list[float]] = {WORKER: [], PATH: [], BARE: [], CONTROL: []}
    order_log: list[list[str]] = []
    await pipeline.wait_drained(within=180)
    try:
        async with pipeline.owner_key() as key:
            endpoints = pipeline.endpoints
            async with PipelineClient(endpoints.api_url, endpoints.ws_url, key) as client:

                async def worker(name: str) -> float:
                    accepted = await client.upload(fresh_jpeg(images[name], ctx.rng))
                    outcome = await client.completed(accepted.image_id, 300)
                    return float(outcome.timings["inference_ms"]) / 1000.0

                async def in_process(name: str) -> float:
                    return await path.run(inputs[name])

                async def bare_loop(name: str) -> float:
                    return bare.run(inputs[name])

                async def control_loop(name: str) -> float:
                    return control.run(inputs[name])

                contenders: dict[str, Callable[[str], Awaitable[float]]] = {
                    WORKER: worker,
                    PATH: in_process,
                    BARE: bare_loop,
                    CONTROL: control_loop,
                }
                await worker(names[0])  # the worker's first run after idling is not counted
                for round_ in range(n):
                    name = names[round_ % len(names)]
                    keys = list(contenders)
                    order = keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
                    order_log.append(order)
                    for contender in order:
                        times[contender].append(await contenders[contender](name))
                    ctx.say(
                        f"  round {round_ + 1}/{n} ({name}): "
                        + ", ".join(f"{SHORT[k]} {times[k][-1] * 1000:.0f} ms" for k in keys)
                    )
    finally:
        path.close()
    return _result(n, model, names, times, order_log)


def _result(
    n: int, model: Any, names: list[str], times: dict[str, list[float]], order: list[list[str]]
) -> ScenarioResult:
    ms = {k: [v * 1000.0 for v in values] for k, values in times.items()}
    bare_median = median(ms[BARE])
    rows: list[list[Any]] = []
    for contender, values in ms.items():
        s = summarise(values)
        rows.append(
            [
                contender,
                s.count,
                s.p50,
                s.mean,
                s.minimum,
                s.maximum,
                ratio(s.p50, bare_median),
                median(paired_ratios(values, ms[BARE])),
            ]
        )
    path_ratio = ratio(median(ms[PATH]), bare_median)
    worker_ratio = ratio(median(ms[WORKER]), bare_median)
    control_ratio = ratio(median(ms[CONTROL]), bare_median)
    rounds = list(range(1, n + 1))
    return ScenarioResult(
        scenario="parity",
        title=TITLE,
        params={
            "rounds": n,
            "model": f"{model.spec.name} {model.spec.version}",
            "intra_op_threads": model.intra_op_threads or "all cores (0)",
            "photos": names,
        },
        targets=[
            Target("processor path / bare (medians)", path_ratio, 1.05, True),
            Target("worker / bare (medians)", worker_ratio, 1.05, True),
        ],
        headline=[
            Metric("bare ONNX Runtime median", bare_median, "ms"),
            Metric("control: second bare session / bare (medians)", control_ratio),
        ],
        tables=[
            Table(
                "Inference time per run (ms)",
                [
                    "contender",
                    "runs",
                    "median",
                    "mean",
                    "min",
                    "max",
                    "median / bare median",
                    "median of per-round ratios",
                ],
                rows,
            )
        ],
        plots=[
            Plot(
                "Inference per round (rotating order)",
                "round",
                "ms",
                [Series(k, [float(r) for r in rounds], v, "line") for k, v in ms.items()],
            )
        ],
        notes=[
            "Same model file, same preprocessed input (the processor's `to_model_input`), same "
            "intra-op thread setting; the model's input is always 1024x1024, so the photo's "
            "size does not change the inference time.",
            "The worker's figure is its own timing breakdown (`inference_ms`, timed around the "
            "await of its inference executor); the in-process figures are timed the same way.",
            f"Noise: the control, a second session identical to the bare one, came out at "
            f"{control_ratio:.3f} of it, so differences of about {abs(1 - control_ratio):.1%} "
            "are within this run's noise.",
        ],
        data={"ms": ms, "order": order},
    )
