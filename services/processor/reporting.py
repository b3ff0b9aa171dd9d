"""How a task's outcome is told: the event, the metrics, one log line, the span's status."""

from __future__ import annotations

import logging

from opentelemetry import trace

from schemas.events import EventBase, utc_now
from schemas.values import FailureReason, ResultObject
from services.processor.adapters.events import Publisher
from services.processor.domain import task as decide
from services.processor.domain.errors import classify
from services.processor.domain.timing import build_timings
from services.processor.metrics import ProcessorMetrics
from services.processor.taskrun import TaskRun

logger = logging.getLogger(__name__)


class TaskReporter:
    def __init__(
        self, worker_id: str, publisher: Publisher, tracer: trace.Tracer, metrics: ProcessorMetrics
    ) -> None:
        self._worker_id = worker_id
        self._publisher = publisher
        self._tracer = tracer
        self._metrics = metrics

    async def started(self, run: TaskRun) -> None:
        who = run.identity(self._worker_id)
        await self.publish(run, decide.started(run.upload, run.attempt, who))

    async def complete(
        self, run: TaskRun, results: list[ResultObject], *, reused_from: str | None
    ) -> None:
        stored_at = utc_now()
        timings = build_timings(
            run.stages,
            occurred_at=run.upload.occurred_at,
            started_at=run.received_at,
            stored_at=stored_at,
        )
        event = decide.completed(
            run.upload,
            run.attempt,
            run.identity(self._worker_id),
            results=results,
            batch_size=run.batch_size,
            timings=timings,
            reused_from_task_id=reused_from,
            foreground=run.foreground,
        )
        run.trace_stages(self._tracer)
        await self.publish(run, event)
        run.done = True
        self._metrics.tasks.labels("reused" if reused_from else "completed").inc()
        self._metrics.observe_stages(run.stages)
        self._metrics.task_seconds.observe(timings.total_ms / 1000.0)
        model = event.model
        self._metrics.model_tasks.labels(
            model.name, model.version, "reused" if reused_from else "completed"
        ).inc()
        self._metrics.model_task_seconds.labels(model.name, model.version).observe(
            max(0.0, timings.total_ms - timings.queue_wait_ms) / 1000.0
        )
        self._metrics.queue_seconds.observe(timings.queue_wait_ms / 1000.0)
        with trace.use_span(run.span, end_on_exit=False):
            logger.info(
                "completed task %s of image %s in %.0f ms (inference %.0f ms, batch %d%s)",
                run.upload.task_id,
                run.upload.image_id,
                timings.total_ms,
                timings.inference_ms,
                run.batch_size,
                f", reused from {reused_from}" if reused_from else "",
                extra={"image_id": run.upload.image_id, "task_id": run.upload.task_id},
            )

    async def fail(self, run: TaskRun, exc: BaseException) -> None:
        failure = classify(exc)
        if failure.reason is FailureReason.INTERNAL:
            logger.error("task %s failed unexpectedly", run.upload.task_id, exc_info=exc)
        run.span.record_exception(exc)
        event = decide.failed(run.upload, run.attempt, run.identity(self._worker_id), failure)
        await self.publish(run, event)
        run.done = True
        run.release_images()
        run.error = failure.reason.value
        self._metrics.tasks.labels("failed").inc()
        ref = event.model
        self._metrics.model_tasks.labels(
            ref.name if ref else run.model_name or "unknown", ref.version if ref else "", "failed"
        ).inc()
        self._metrics.failures.labels(failure.reason.value, str(failure.retriable).lower()).inc()
        with trace.use_span(run.span, end_on_exit=False):
            logger.warning(
                "task %s of image %s failed: %s (%s, retriable=%s)",
                run.upload.task_id,
                run.upload.image_id,
                failure.message,
                failure.reason.value,
                failure.retriable,
                extra={"image_id": run.upload.image_id, "task_id": run.upload.task_id},
            )

    async def publish(self, run: TaskRun, event: EventBase) -> None:
        with trace.use_span(run.span, end_on_exit=False):
            await self._publisher.publish(event)
