"""The processor's use case as stages that run at the same time, independent of Kafka.

Every record handed to ``Flow.submit`` becomes one task that passes through the stages::

    intake   contract check; a record that breaks it is dead-lettered
    fetch    model resolved; ProcessingStarted sent, the original fetched and the content
             index looked up, all three at once (nothing waits for the Started event)
    prepare  decode, resize, normalise on the CPU pool; at most ``max_decoded`` images
             exist decoded at once, the rest wait here (the memory bound)
    infer    the one inference stream: a queue of prepared inputs, run in dynamic batches
             of up to ``max_batch`` (see ``_Batcher``)
    finish   mask, composite, encode the cut-out and the mask on the CPU pool
    store    both results stored at once, ProcessingCompleted sent, then the content index

Stages are joined by bounded queues and semaphores, so while the model runs batch *n*,
batch *n+1* is being decoded and batch *n-1* encoded and stored. At most ``max_in_flight``
tasks are admitted; ``room`` tells the consumer how many more it may hand over, and it
pauses its partitions instead of buffering when there is none.

A task ends when its outcome is durable (results stored and Completed acknowledged, or
Failed acknowledged, or the record dead-lettered); only then does its ``asyncio.Task``
complete, and only then may its offset be committed. A transient failure (object store or
broker unavailable, a model that cannot be fetched yet) is never an outcome: the task waits
with capped exponential backoff and tries again, until ``retry_deadline_s`` has passed; a
final failure after that deadline says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
from opentelemetry import trace
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    wait_exponential_jitter,
)

from schemas.events import ImageUploaded, utc_now
from schemas.values import FailureReason, ResultKind, ResultObject
from services.common.envelope import ContractError, decode
from services.processor.adapters.blobstore import BlobStore, ObjectMissing
from services.processor.adapters.events import DeadLetterSink, Publisher, RawMessage
from services.processor.adapters.routing import RoutingSource
from services.processor.adapters.state import ProcessorState
from services.processor.domain import task as decide
from services.processor.domain.compose import EncodedResult
from services.processor.domain.errors import ProcessingError, classify
from services.processor.domain.finish import (
    FinishOptions,
    MaskUpsampling,
    wants_foreground_estimation,
)
from services.processor.domain.routing import ModelRouting, choose_model
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

UNEXPECTED_TYPE = "unexpected_type"


@dataclass(frozen=True)
class PipelineConfig:
    worker_id: str
    results_bucket: str
    max_pixels: int
    png_level: int
    webp_quality: int
    reuse_results: bool
    foreground_estimation: bool = True
    mask_upsampling: MaskUpsampling = MaskUpsampling.GUIDED

    def finish_options(self, upload: ImageUploaded) -> FinishOptions:
        options = upload.options
        return FinishOptions(
            background=options.background,
            foreground_estimation=wants_foreground_estimation(
                options.foreground_estimation, self.foreground_estimation
            ),
            upsampling=self.mask_upsampling,
        )


@dataclass(frozen=True)
class FlowLimits:
    """How much work may be under way at once, and how transient failures are waited out."""

    max_in_flight: int = 16
    max_decoded: int = 4
    max_delay_s: float = 0.05
    retry_initial_s: float = 1.0
    retry_max_s: float = 30.0
    retry_deadline_s: float = 86_400.0


class Flow:
    def __init__(
        self,
        config: PipelineConfig,
        limits: FlowLimits,
        *,
        models: ModelPool,
        store: BlobStore,
        state: ProcessorState,
        publisher: Publisher,
        dead_letters: Callable[[], DeadLetterSink],
        cpu: Executor,
        inference: Executor,
        tracer: trace.Tracer,
        metrics: ProcessorMetrics,
        routing: RoutingSource | None = None,
    ) -> None:
        self.config = config
        self._routing = routing
        self.limits = limits
        self._models = models
        self._store = store
        self._state = state
        self._dead_letters = dead_letters
        self._report = TaskReporter(config.worker_id, publisher, tracer, metrics)
        self._cpu = cpu
        self._tracer = tracer
        self._metrics = metrics
        self._slots = asyncio.Semaphore(limits.max_in_flight)
        self._decoded = asyncio.Semaphore(max(1, limits.max_decoded))
        self._batcher = _Batcher(inference, limits.max_delay_s, metrics)
        self._leaders: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._room_changed = asyncio.Event()
        self.waiting_since: dict[str, float] = {}

    # -- what the consumer sees -------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def room(self) -> int:
        return max(0, self.limits.max_in_flight - len(self._tasks))

    @property
    def waiting_on_dependency(self) -> int:
        """Tasks that are waiting for a dependency (object store, broker, model) to return."""
        return len(self.waiting_since)

    def outage_seconds(self) -> float:
        if not self.waiting_since:
            return 0.0
        return time.monotonic() - min(self.waiting_since.values())

    async def wait_for_room(self) -> None:
        while self.room == 0:
            self._room_changed.clear()
            await self._room_changed.wait()

    def submit(
        self,
        message: RawMessage,
        attempt: int = 1,
        *,
        after: asyncio.Future[None] | None = None,
    ) -> asyncio.Task[None]:
        """Start one record's task; it completes once the record's outcome is durable.
        ``after``: what ProcessingStarted waits for (the consumer's hand-over mark)."""
        return self._spawn(self._record(message, attempt, after))

    def submit_upload(self, inbound: Inbound) -> asyncio.Task[None]:
        """Start the task of an already validated upload."""
        return self._spawn(self._upload(inbound))

    async def process(self, batch: Sequence[Inbound]) -> None:
        """Every upload of ``batch`` to its durable outcome (a convenience for callers that
        have their uploads at hand)."""
        tasks = []
        for inbound in batch:
            await self.wait_for_room()
            tasks.append(self.submit_upload(inbound))
        await asyncio.gather(*tasks)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        self._metrics.in_flight.inc()

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._metrics.in_flight.dec()
            self._room_changed.set()

        task.add_done_callback(done)
        return task

    # -- intake -----------------------------------------------------------------------

    async def _record(
        self, message: RawMessage, attempt: int, after: asyncio.Future[None] | None
    ) -> None:
        received_at = utc_now()
        where = f"{message.topic}[{message.partition}]@{message.offset}"
        upload = await self._durably(partial(self._accept, message), where)
        if upload is not None:
            await self._upload(Inbound(upload, message.headers, received_at, attempt, after))

    async def _accept(self, message: RawMessage) -> ImageUploaded | None:
        """The valid upload, or None once the record was dead-lettered."""
        try:
            envelope = decode(message.value, list(message.headers))
        except ContractError as exc:
            await self._dead_letter(message, exc.reason, exc.message, exc.field)
            return None
        if not isinstance(envelope.event, ImageUploaded):
            await self._dead_letter(
                message,
                UNEXPECTED_TYPE,
                f"{envelope.type} does not belong on {message.topic}",
                "ce_type",
            )
            return None
        return envelope.event

    async def _dead_letter(
        self, message: RawMessage, reason: str, error: str, field: str | None
    ) -> None:
        await self._dead_letters().send(message, reason=reason, error=error, field=field)
        self._metrics.dead_letters.labels(reason).inc()

    # -- one task, start to durable outcome ---------------------------------------------

    async def _upload(self, inbound: Inbound) -> None:
        run = TaskRun.open(inbound, self._tracer)
        try:
            await self._until_outcome(run)
        finally:
            run.close(self._tracer)

    async def _until_outcome(self, run: TaskRun) -> None:
        """Try the task; wait out transient failures; report a final one."""
        deadline_s = self.limits.retry_deadline_s
        try:
            await self._durably(partial(self._attempt, run), run.key, deadline_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure of one task is its own
            failure = classify(exc)
            final: BaseException = exc
            if failure.retriable:  # still unavailable when the deadline passed
                final = ProcessingError(
                    failure.reason,
                    f"gave up after {deadline_s:.0f} s of retries: {failure.message}",
                    retriable=False,
                )
            await self._durably(partial(self._report.fail, run, final), run.key)

    async def _durably(
        self, step: Callable[[], Awaitable[T]], key: str, deadline_s: float | None = None
    ) -> T:
        """Repeat ``step`` while what it needs is unavailable (a broker, store or model source
        outage), with capped exponential backoff and jitter; after ``deadline_s`` the failure
        is raised. Meanwhile ``key`` counts as waiting on a dependency."""

        def waiting(state: RetryCallState) -> None:
            # From the first failed try until `_recovered`, `key` waits on a dependency.
            self.waiting_since.setdefault(key, time.monotonic())
            self._metrics.waiting.set(len(self.waiting_since))
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "%s: a dependency is unavailable, retrying in %.1f s: %s", key, delay, exc
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: bool(getattr(exc, "retriable", False))),
            wait=wait_exponential_jitter(
                multiplier=self.limits.retry_initial_s,
                max=self.limits.retry_max_s,
                jitter=self.limits.retry_initial_s / 4,
            ),
            stop=stop_never if deadline_s is None else stop_after_delay(deadline_s),
            before_sleep=waiting,
            reraise=True,
        )
        try:
            return await retrying(step)
        finally:
            self._recovered(key)

    def _recovered(self, key: str) -> None:
        if self.waiting_since.pop(key, None) is not None:
            self._metrics.waiting.set(len(self.waiting_since))

    async def _attempt(self, run: TaskRun) -> None:
        routing = ModelRouting() if self._routing is None else await self._routing.current()
        run.model_name = choose_model(run.upload.options.model, run.upload.image_id, routing)
        run.session = await self._models.get(run.model_name)
        started = asyncio.ensure_future(self._start(run))
        key = decide.content_key(
            run.upload, run.session.ref.sha256, self.config.finish_options(run.upload).variant()
        )
        leader = await self._lead(key)
        # The original is fetched while the content index is consulted.
        fetch = asyncio.ensure_future(self._fetch(run))
        fetch.add_done_callback(_retrieved)  # unused when the results are reused
        try:
            if await self._reuse(run, key):
                fetch.cancel()
                await started
                await self._report.complete(run, run.results, reused_from=run.reused_from)
            else:
                await self._compute(run, started, fetch)
                await self._remember(run, key)
        except BaseException:
            for pending in (started, fetch):
                if not pending.done():
                    pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            raise
        finally:
            self._release(key, leader)

    async def _start(self, run: TaskRun) -> None:
        if run.started:
            return
        if run.after is not None:
            try:
                await asyncio.shield(run.after)
            except Exception as exc:  # noqa: BLE001 - only the attempt numbering depends on it
                logger.warning("hand-over mark not committed before %s: %s", run.key, exc)
        await self._report.started(run)
        run.started = True

    async def _lead(self, key: str) -> asyncio.Future[None] | None:
        """Wait for a task with the same content key that is already running (its results
        are reused); then lead that key while this task runs."""
        if not self.config.reuse_results:
            return None
        while (first := self._leaders.get(key)) is not None:
            await asyncio.shield(first)
        leader: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._leaders[key] = leader
        return leader

    def _release(self, key: str, leader: asyncio.Future[None] | None) -> None:
        if leader is None:
            return
        if self._leaders.get(key) is leader:
            del self._leaders[key]
        if not leader.done():
            leader.set_result(None)

    # -- stages ---------------------------------------------------------------------------

    async def _reuse(self, run: TaskRun, key: str) -> bool:
        """Copy the results of an earlier task with the same content key, if there is one."""
        if not self.config.reuse_results:
            return False
        found = await self._state.find_results(key)
        if found is None:
            return False
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
                return False
        run.results, run.reused_from = results, found.task_id
        run.foreground = found.foreground
        return True

    async def _compute(
        self, run: TaskRun, started: asyncio.Future[None], fetch: asyncio.Future[bytes]
    ) -> None:
        data = await fetch
        async with self._decoded:
            self._batcher.preparing += 1
            try:
                model_input = await self._prepare(run, data)
            finally:
                self._batcher.preparing -= 1
            del data
            await self._batcher.infer(run, model_input)
            del model_input
            cutout, mask = await self._finish(run)
        await started
        await self._store_and_emit(run, cutout, mask)

    async def _fetch(self, run: TaskRun) -> bytes:
        original = run.upload.original
        with run.stages.measure(Stage.DOWNLOAD):
            try:
                return await self._store.get(original.bucket, original.key)
            except ObjectMissing:
                raise ProcessingError(
                    FailureReason.IMAGE_MISSING,
                    f"the original s3://{original.bucket}/{original.key} does not exist",
                ) from None

    async def _prepare(self, run: TaskRun, data: bytes) -> np.ndarray:
        original = run.upload.original
        decoded, model_input = await self._on(
            self._cpu,
            partial(
                decode_and_preprocess,
                data,
                _session(run).prepare,
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
        return model_input

    async def _finish(self, run: TaskRun) -> tuple[EncodedResult, EncodedResult]:
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
            alpha, image, run.foreground = await self._on(
                self._cpu,
                partial(
                    postprocess,
                    output,
                    decoded,
                    self.config.finish_options(upload),
                    sigmoid=self._models.spec(run.model_name).sigmoid,
                    stages=run.stages,
                    requested=upload.options,
                ),
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
        return cutout, mask

    async def _store_and_emit(
        self, run: TaskRun, cutout: EncodedResult, mask: EncodedResult
    ) -> None:
        upload, bucket = run.upload, self.config.results_bucket
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
        run.results, run.reused_from = results, None
        await self._report.complete(run, results, reused_from=None)

    async def _remember(self, run: TaskRun, key: str) -> None:
        """Index the results by content, after Completed: losing the entry only costs a
        later inference, so a failure here is logged and the task stays completed."""
        if not self.config.reuse_results or not run.results:
            return
        cutout, mask = run.results
        try:
            await self._state.remember_results(
                key, decide.StoredResults(run.upload.task_id, cutout, mask, run.foreground)
            )
        except Exception as exc:  # noqa: BLE001 - the task's outcome is already durable
            logger.warning("results of %s not indexed by content: %s", run.upload.task_id, exc)

    async def _on(self, executor: Executor, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)


class _Batcher:
    """The infer stage: one inference at a time, over dynamic batches.

    A batch takes every prepared input that is waiting, up to the model's ``max_batch``; if
    that is fewer and more images are being prepared right now, it waits up to
    ``max_delay_s`` for them. An idle worker never delays a lone image. If a batch fails,
    its images run one by one so that only the one that breaks the model fails.
    """

    def __init__(self, executor: Executor, max_delay_s: float, metrics: ProcessorMetrics):
        self._executor = executor
        self._max_delay_s = max_delay_s
        self._metrics = metrics
        self._queue: asyncio.Queue[tuple[TaskRun, np.ndarray, asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self._lock = asyncio.Lock()
        self.preparing = 0

    async def infer(self, run: TaskRun, model_input: np.ndarray) -> None:
        """Run ``model_input`` through the model (in some batch); sets ``run.output``."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((run, model_input, done))
        async with self._lock:
            # Whoever holds the lock runs batches until its own input has been through.
            while not done.done():
                await self._run_batch()
        await done

    async def _run_batch(self) -> None:
        items = await self._gather()
        groups: dict[int, list[tuple[TaskRun, np.ndarray, asyncio.Future[None]]]] = {}
        for item in items:
            groups.setdefault(id(item[0].session), []).append(item)
        for group in groups.values():
            session = _session(group[0][0])
            for start in range(0, len(group), session.max_batch):
                await self._run_chunk(session, group[start : start + session.max_batch])

    async def _gather(self) -> list[tuple[TaskRun, np.ndarray, asyncio.Future[None]]]:
        items = [self._queue.get_nowait()]
        limit = _session(items[0][0]).max_batch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_delay_s
        while len(items) < limit:
            if not self._queue.empty():
                items.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if self.preparing == 0 or remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return items

    async def _run_chunk(
        self, session: LoadedModel, chunk: list[tuple[TaskRun, np.ndarray, asyncio.Future[None]]]
    ) -> None:
        loop = asyncio.get_running_loop()
        inputs = [x for _, x, _ in chunk]
        try:
            start_ns, perf = time.time_ns(), time.perf_counter_ns()
            outputs = await loop.run_in_executor(self._executor, session.infer, inputs)
            duration_ns = time.perf_counter_ns() - perf
        except Exception as exc:  # noqa: BLE001 - isolate the image that breaks the model
            if len(chunk) > 1:
                logger.warning(
                    "batch of %d failed (%s); running its images one by one", len(chunk), exc
                )
                for item in chunk:
                    await self._run_chunk(session, [item])
                return
            chunk[0][2].set_exception(
                ProcessingError(FailureReason.MODEL_ERROR, f"the model failed: {exc}")
            )
            return
        interval = Interval(Stage.INFERENCE, start_ns, duration_ns)
        self._metrics.batch_size.observe(len(chunk))
        self._metrics.inferences.labels(session.ref.name).inc(len(chunk))
        for position, (run, _, done) in enumerate(chunk):
            run.output = outputs[position]
            run.batch_size = len(chunk)
            run.add_interval(interval)
            if not done.done():
                done.set_result(None)


def _retrieved(future: asyncio.Future[bytes]) -> None:
    if not future.cancelled():
        future.exception()


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
