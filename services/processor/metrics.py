"""The processor's Prometheus metrics, registered on the service's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.processor.domain.timing import StageTimes

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.tasks = Counter(
            "clearcut_processor_tasks",
            "Tasks finished, by outcome (completed, reused, failed).",
            ["outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "clearcut_processor_failures",
            "Failed tasks by reason and whether a later attempt may succeed.",
            ["reason", "retriable"],
            registry=registry,
        )
        self.inferences = Counter(
            "clearcut_processor_inferences",
            "Images run through a model.",
            ["model"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "clearcut_processor_dead_letters",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "clearcut_processor_stage_seconds",
            "Time per stage of a task (batch stages count the batch's time).",
            ["stage"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.task_seconds = Histogram(
            "clearcut_processor_task_seconds",
            "From the upload's time until its results were stored.",
            buckets=_SECONDS,
            registry=registry,
        )
        self.queue_seconds = Histogram(
            "clearcut_processor_queue_seconds",
            "From the upload's time until a worker took the task (waiting on the topic).",
            buckets=_SECONDS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "clearcut_processor_batch_size",
            "Images per inference run.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self.in_flight = Gauge(
            "clearcut_processor_tasks_in_flight", "Tasks being processed.", registry=registry
        )
        self.waiting = Gauge(
            "clearcut_processor_tasks_waiting",
            "Tasks waiting for a dependency (object store, broker, model source) to come back.",
            registry=registry,
        )
        self.outage_seconds = Gauge(
            "clearcut_processor_outage_seconds",
            "How long the oldest task waiting on a dependency has waited (0 when none).",
            registry=registry,
        )
        self.paused = Gauge(
            "clearcut_processor_consumption_paused",
            "1 while consumption is paused because the stages are full.",
            registry=registry,
        )
        self.model_info = Gauge(
            "clearcut_processor_model_info",
            "Loaded models, the runtime and execution provider each runs on (value 1).",
            ["model", "version", "sha256", "runtime", "provider", "max_batch"],
            registry=registry,
        )

        self.model_tasks = Counter(
            "clearcut_processor_model_tasks",
            "Tasks finished per model and version, by outcome (completed, reused, failed): "
            "a canary's failure rate beside the default's.",
            ["model", "version", "outcome"],
            registry=registry,
        )
        self.model_task_seconds = Histogram(
            "clearcut_processor_model_task_seconds",
            "From taking a task until its results were stored, per model and version (the "
            "worker's own time, without the wait on the topic): a canary's latency beside "
            "the default's.",
            ["model", "version"],
            buckets=_SECONDS,
            registry=registry,
        )

    def observe_stages(self, stages: StageTimes) -> None:
        for stage, seconds in stages.seconds.items():
            self.stage_seconds.labels(stage.value).observe(seconds)
