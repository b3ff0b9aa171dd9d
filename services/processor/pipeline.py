"""Processing a batch of uploads: the worker's use case, independent of faust.

For each task: resolve the model, count the attempt, publish ProcessingStarted; reuse the
results of an earlier task with the same bytes, model and options if there is one;
otherwise download, decode and preprocess (CPU pool), run the whole batch through the model
in one ``session.run`` per model (inference thread), post-process and encode (CPU pool),
store the results under the task id, index them by content and publish
ProcessingCompleted. A task that fails gets ProcessingFailed at once and leaves the rest of
the batch alone. Only ``BrokerUnavailable`` escapes: then no event can be written and the
caller must not acknowledge the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from opentelemetry import trace

from schemas.values import FailureReason, ResultKind, ResultObject
from services.processor.adapters.blobstore import BlobStore, ObjectMissing
from services.processor.adapters.events import BrokerUnavailable, Publisher
from services.processor.adapters.state import ProcessorState
from services.processor.domain import task as decide
from services.processor.domain.compose import EncodedResult
from services.processor.domain.errors import ProcessingError
from services.processor.domain.tensors import stack_batch
from services.processor.domain.timing import Interval, Stage
from services.processor.imagework import (
    EncodeOptions,
    decode_and_preprocess,
    encode_cutout_result,
    encode_mask_result,
    postprocess,
)
from services.processor.metrics import ProcessorMetrics
from services.processor.reporting import TaskReporter
from services.processor.runtime.model import LoadedModel
from services.processor.runtime.pool import ModelPool
from services.processor.taskrun import Inbound, TaskRun

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class PipelineConfig:
    worker_id: str
    results_bucket: str
    max_pixels: int
    png_level: int
    webp_quality: int
    reuse_results: bool


class BatchPipeline:
    def __init__(
        self,
        config: PipelineConfig,
        *,
        models: ModelPool,
        store: BlobStore,
        state: ProcessorState,
        publisher: Publisher,
        cpu: Executor,
        inference: Executor,
        tracer: trace.Tracer,
        metrics: ProcessorMetrics,
    ) -> None:
        self.config = config
        self._models = models
        self._store = store
        self._state = state
        self._report = TaskReporter(config.worker_id, publisher, tracer, metrics)
        self._cpu = cpu
        self._inference = inference
        self._tracer = tracer
        self._metrics = metrics

    async def process(self, batch: Sequence[Inbound]) -> None:
        runs = [TaskRun.open(item, self._tracer) for item in batch]
        self._metrics.in_flight.inc(len(runs))
        try:
            await self._each(runs, self._resolve_model)
            live = [run for run in runs if not run.done]
            keys = [decide.content_key(run.upload, _session(run).ref.sha256) for run in live]
            firsts, repeats = decide.split_repeats(keys)
            for group in ([live[i] for i in firsts], [live[i] for i in repeats]):
                if group:
                    await self._run(group)
        finally:
            self._metrics.in_flight.dec(len(runs))
            for run in runs:
                run.close(self._tracer)

    async def _run(self, runs: list[TaskRun]) -> None:
        await self._each(runs, self._start)
        await self._each(runs, self._reuse)
        await self._each(runs, self._prepare)
        await self._infer([run for run in runs if not run.done])
        await self._each(runs, self._finish)

    async def _each(self, runs: list[TaskRun], step: Callable[[TaskRun], Awaitable[None]]) -> None:
        """Run ``step`` for every unfinished task concurrently; a task's failure is its own."""
        pending = [run for run in runs if not run.done]
        outcomes = await asyncio.gather(
            *(self._guarded(run, step) for run in pending), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _guarded(self, run: TaskRun, step: Callable[[TaskRun], Awaitable[None]]) -> None:
        try:
            await step(run)
        except (BrokerUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure of one task is reported
            await self._report.fail(run, exc)

    # -- steps --------------------------------------------------------------------------

    async def _resolve_model(self, run: TaskRun) -> None:
        run.session = await self._models.get(run.upload.options.model)

    async def _start(self, run: TaskRun) -> None:
        run.attempt = await self._state.next_attempt(run.upload)
        await self._report.started(run)

    async def _reuse(self, run: TaskRun) -> None:
        if not self.config.reuse_results:
            return
        key = decide.content_key(run.upload, _session(run).ref.sha256)
        found = await self._state.find_results(key)
        if found is None:
            return
        results = []
        with run.stages.measure(Stage.UPLOAD):
            try:
                for kind, stored in (
                    (ResultKind.CUTOUT, found.cutout),
                    (ResultKind.MASK, found.mask),
                ):
                    target = decide.result_key(run.upload, kind)
                    bucket = self.config.results_bucket
                    if (stored.bucket, stored.key) != (bucket, target):
                        await self._store.copy(stored.bucket, stored.key, bucket, target)
                    results.append(stored.model_copy(update={"bucket": bucket, "key": target}))
            except ObjectMissing:
                logger.info("results indexed under %s are gone; running the model", key)
                await self._state.forget_results(key)
                return
        await self._report.complete(run, results, reused_from=found.task_id)

    async def _prepare(self, run: TaskRun) -> None:
        original = run.upload.original
        with run.stages.measure(Stage.DOWNLOAD):
            try:
                data = await self._store.get(original.bucket, original.key)
            except ObjectMissing:
                raise ProcessingError(
                    FailureReason.IMAGE_MISSING,
                    f"the original s3://{original.bucket}/{original.key} does not exist",
                ) from None
        decoded, run.model_input = await self._on(
            self._cpu,
            partial(
                decode_and_preprocess,
                data,
                _session(run).input_spec,
                run.upload.options.output_format,
                max_pixels=self.config.max_pixels,
                stages=run.stages,
            ),
        )
        run.decoded = decoded
        if decoded.size != (original.width, original.height):
            logger.warning(
                "image %s decodes to %sx%s, the upload said %sx%s",
                run.upload.image_id,
                *decoded.size,
                original.width,
                original.height,
            )
        run.trace_stages(self._tracer)

    async def _infer(self, runs: list[TaskRun]) -> None:
        groups: dict[int, list[TaskRun]] = {}
        for run in runs:
            groups.setdefault(id(run.session), []).append(run)
        for group in groups.values():
            session = _session(group[0])
            for start in range(0, len(group), session.max_batch):
                await self._infer_chunk(session, group[start : start + session.max_batch])

    async def _infer_chunk(self, session: LoadedModel, chunk: list[TaskRun]) -> None:
        inputs = [run.model_input for run in chunk if run.model_input is not None]
        try:
            with _Clock() as clock:
                outputs = await self._on(self._inference, session.run, stack_batch(inputs))
        except Exception as exc:  # noqa: BLE001 - isolate the image that breaks the model
            if len(chunk) > 1:
                logger.warning(
                    "batch of %d failed (%s); running its images one by one", len(chunk), exc
                )
                for run in chunk:
                    await self._infer_chunk(session, [run])
                return
            await self._report.fail(
                chunk[0], ProcessingError(FailureReason.MODEL_ERROR, f"the model failed: {exc}")
            )
            return
        interval = Interval(Stage.INFERENCE, clock.start_ns, clock.duration_ns)
        self._metrics.batch_size.observe(len(chunk))
        self._metrics.inferences.labels(session.ref.name).inc(len(chunk))
        for position, run in enumerate(chunk):
            run.output = outputs[position]
            run.model_input = None
            run.batch_size = len(chunk)
            run.add_interval(interval)
            run.trace_stages(self._tracer)

    async def _finish(self, run: TaskRun) -> None:
        decoded, output = run.decoded, run.output
        if decoded is None or output is None:
            raise ProcessingError(FailureReason.INTERNAL, "the task reached its end without a mask")
        upload = run.upload
        options = EncodeOptions(
            upload.options.output_format,
            upload.options.background,
            self.config.png_level,
            self.config.webp_quality,
        )
        try:
            alpha, image = await self._on(
                self._cpu,
                partial(postprocess, output, decoded, upload.options.background, stages=run.stages),
            )
        except ValueError as exc:
            raise ProcessingError(
                FailureReason.MODEL_ERROR, f"unusable model output: {exc}"
            ) from None
        with run.stages.measure(Stage.ENCODE):
            cutout, mask = await asyncio.gather(
                self._on(
                    self._cpu, partial(encode_cutout_result, image, options, decoded.icc_profile)
                ),
                self._on(self._cpu, partial(encode_mask_result, alpha, options)),
            )
        del image, alpha
        run.release_images()
        bucket = self.config.results_bucket
        results = [
            _result(
                ResultKind.CUTOUT, bucket, decide.result_key(upload, ResultKind.CUTOUT), cutout
            ),
            _result(ResultKind.MASK, bucket, decide.result_key(upload, ResultKind.MASK), mask),
        ]
        with run.stages.measure(Stage.UPLOAD):
            await asyncio.gather(
                self._store.put(bucket, results[0].key, cutout.data, cutout.content_type),
                self._store.put(bucket, results[1].key, mask.data, mask.content_type),
            )
            if self.config.reuse_results:
                stored = decide.StoredResults(upload.task_id, results[0], results[1])
                key = decide.content_key(upload, _session(run).ref.sha256)
                await self._state.remember_results(key, stored)
        await self._report.complete(run, results, reused_from=None)

    async def _on(self, executor: Executor, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


class _Clock:
    """Wall-clock start and monotonic duration of a block, in nanoseconds."""

    def __enter__(self) -> _Clock:
        self._perf = time.perf_counter_ns()
        self.start_ns = time.time_ns()
        self.duration_ns = 0
        return self

    def __exit__(self, *_: object) -> None:
        self.duration_ns = time.perf_counter_ns() - self._perf


def _session(run: TaskRun) -> LoadedModel:
    if run.session is None:
        raise ProcessingError(FailureReason.INTERNAL, "no model resolved for the task")
    return run.session


def _result(kind: ResultKind, bucket: str, key: str, encoded: EncodedResult) -> ResultObject:
    return ResultObject(
        kind=kind,
        bucket=bucket,
        key=key,
        size=len(encoded.data),
        content_type=encoded.content_type,
        width=encoded.width,
        height=encoded.height,
    )
