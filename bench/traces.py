"""Where an upload's time went, from its trace in Jaeger (the spans every service records).

The upload answer carries ``X-Trace-Id``; Jaeger's query API returns that trace's spans
(service, operation, start, duration, in microseconds since the epoch on this machine's
clock). ``journey_gaps`` (pure) cuts the time from the client's request to its websocket
receipt into consecutive intervals at the spans' edges: what was work in a service, and
what was a hop or a wait between two of them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

# Consecutive intervals, in the order an upload meets them.
GAPS = {
    "client_to_api": "client request start until the API's request span starts",
    "api_to_publish": "API: streaming, validation, original stored, ledger row, until "
    "ImageUploaded is handed to the producer",
    "kafka_to_processor": "ImageUploaded produced until the processor's task starts "
    "(broker, consumer fetch, batching)",
    "task_to_started": "task start until ProcessingStarted is handed to the producer: the "
    "model looked up and the consumer's hand-over commit (the fetch does not wait for it)",
    "started_to_download": "ProcessingStarted handed over until the download starts; "
    "negative when the download (beside the content-index lookup) started first",
    "download": "original fetched from the object store",
    "compute": "decode, preprocess, inference, postprocess, encode, and the hops between them",
    "result_upload": "cut-out and mask stored, at once (the content index is written after "
    "Completed)",
    "to_completed_send": "results stored until ProcessingCompleted is handed to the producer",
    "kafka_to_notifier": "ProcessingCompleted produced until the notifier processes it",
    "notifier_to_client": "notifier processing until the client has the websocket message",
}
OVERHEAD_GAPS = [g for g in GAPS if g != "compute"]


@dataclass(frozen=True)
class Span:
    service: str
    operation: str
    start: float  # seconds since the epoch
    duration: float  # seconds

    @property
    def end(self) -> float:
        return self.start + self.duration


class IncompleteTrace(ValueError):
    pass


def spans_of(trace: dict[str, Any]) -> list[Span]:
    """The spans of one trace in Jaeger's JSON, by start time."""
    processes = trace.get("processes", {})
    spans = [
        Span(
            processes.get(s["processID"], {}).get("serviceName", "?"),
            s["operationName"],
            s["startTime"] / 1e6,
            s["duration"] / 1e6,
        )
        for s in trace.get("spans", [])
    ]
    return sorted(spans, key=lambda s: s.start)


def _find(spans: list[Span], service: str, ending: str) -> Span:
    for span in spans:
        if span.service == service and span.operation.endswith(ending):
            return span
    raise IncompleteTrace(f"no {service} span ending {ending!r}")


def journey_gaps(spans: list[Span], request_started: float, received: float) -> dict[str, float]:
    """Milliseconds of each interval of ``GAPS``; they add up to the end-to-end time."""
    api = _find(spans, "upload", "POST /v1/images")
    published = _find(spans, "upload", "image.uploaded send")
    task = _find(spans, "processor", "processor.task")
    started = _find(spans, "processor", "image.processing.started send")
    download = _find(spans, "processor", "processor.download")
    result_upload = _find(spans, "processor", "processor.upload")
    completed = _find(spans, "processor", "image.processing.completed send")
    notified = _find(spans, "notifier", "image.processing.completed process")
    edges = [
        request_started,
        api.start,
        published.start,
        task.start,
        started.start,
        download.start,
        download.end,
        result_upload.start,
        result_upload.end,
        completed.start,
        notified.start,
        received,
    ]
    return {name: (edges[i + 1] - edges[i]) * 1000.0 for i, name in enumerate(GAPS)}


async def journey_from_jaeger(
    query_url: str, trace_id: str, request_started: float, received: float, within: float = 30.0
) -> dict[str, float]:
    """``journey_gaps`` of the trace, once Jaeger has every span it needs (spans arrive in
    batches from each service, the processor's task span only after the task's end)."""
    deadline = time.monotonic() + within
    problem = "not found"
    async with httpx.AsyncClient(base_url=query_url, timeout=10) as http:
        while True:
            response = await http.get(f"/api/traces/{trace_id}")
            if response.status_code == 200:
                for trace in response.json().get("data") or []:
                    try:
                        return journey_gaps(spans_of(trace), request_started, received)
                    except IncompleteTrace as exc:
                        problem = str(exc)
            if time.monotonic() >= deadline:
                raise IncompleteTrace(f"trace {trace_id} after {within:.0f} s: {problem}")
            await asyncio.sleep(1.0)
