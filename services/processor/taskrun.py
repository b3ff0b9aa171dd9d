"""One task while a worker processes it: its state between stages, its trace and timings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from schemas.events import ImageUploaded
from schemas.values import ForegroundBox, ResultObject
from services.common.telemetry import extract_context
from services.processor.domain.decoding import DecodedImage
from services.processor.domain.task import Identity
from services.processor.domain.timing import Interval, StageTimes
from services.processor.runtime.model import LoadedModel


@dataclass(frozen=True)
class Inbound:
    """A valid ImageUploaded taken off the topic, with the headers that carry its trace."""

    upload: ImageUploaded
    headers: Sequence[tuple[str, bytes]]
    received_at: datetime
    attempt: int = 1
    # What ProcessingStarted waits for (the consumer's commit of its hand-over mark).
    after: asyncio.Future[None] | None = None


@dataclass
class TaskRun:
    upload: ImageUploaded
    received_at: datetime
    span: Span
    after: asyncio.Future[None] | None = None
    stages: StageTimes = field(default_factory=StageTimes)
    attempt: int = 1
    model_name: str | None = None  # as routed; None: the registry's default
    session: LoadedModel | None = None
    decoded: DecodedImage | None = None
    model_input: np.ndarray | None = None
    output: np.ndarray | None = None
    batch_size: int = 1
    started: bool = False
    results: list[ResultObject] = field(default_factory=list)
    reused_from: str | None = None
    foreground: ForegroundBox | None = None
    done: bool = False
    error: str | None = None
    _traced: int = 0

    @classmethod
    def open(cls, inbound: Inbound, tracer: trace.Tracer) -> TaskRun:
        upload = inbound.upload
        span = tracer.start_span(
            "processor.task",
            context=extract_context(list(inbound.headers)),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "clearcut.image_id": upload.image_id,
                "clearcut.task_id": upload.task_id,
                "clearcut.owner": upload.owner,
                "clearcut.original.size": upload.original.size,
            },
        )
        return cls(
            upload=upload,
            received_at=inbound.received_at,
            span=span,
            attempt=inbound.attempt,
            after=inbound.after,
        )

    @property
    def key(self) -> str:
        return f"task {self.upload.task_id}"

    def identity(self, worker_id: str) -> Identity:
        if self.session is None:
            return Identity(worker_id)
        return Identity(worker_id, self.session.ref, self.session.provider, self.session.runtime)

    def attributes(self) -> dict[str, str | int]:
        attributes: dict[str, str | int] = {
            "clearcut.image_id": self.upload.image_id,
            "clearcut.task_id": self.upload.task_id,
            "clearcut.batch_size": self.batch_size,
        }
        if self.session is not None:
            attributes["clearcut.model"] = self.session.ref.name
            attributes["clearcut.model_version"] = self.session.ref.version
            attributes["clearcut.provider"] = self.session.provider.value
            attributes["clearcut.runtime"] = self.session.runtime.value
        return attributes

    def add_interval(self, interval: Interval) -> None:
        self.stages.add(interval)

    def trace_stages(self, tracer: trace.Tracer) -> None:
        """A child span per stage measured since the last call, with the stage's own times."""
        parent = trace.set_span_in_context(self.span)
        for interval in self.stages.intervals[self._traced :]:
            span = tracer.start_span(
                f"processor.{interval.stage.value}",
                context=parent,
                start_time=interval.start_ns,
                attributes=self.attributes(),
            )
            span.end(end_time=interval.end_ns)
        self._traced = len(self.stages.intervals)

    def release_images(self) -> None:
        self.decoded = None
        self.model_input = None
        self.output = None

    def close(self, tracer: trace.Tracer) -> None:
        self.trace_stages(tracer)
        self.span.set_attributes(self.attributes())
        if self.error is not None:
            self.span.set_status(Status(StatusCode.ERROR, self.error))
        self.span.end()
        self.release_images()
