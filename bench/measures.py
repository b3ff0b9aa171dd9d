"""What a bench derives from what it observed: overhead, its parts, throughput (pure).

Every instant is seconds since the epoch on this machine's clock, shared by the client,
the services and the broker (they all run here), so differences across processes hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.stats import ratio

# The processor's own compute in the Completed event's timing breakdown. Download and
# upload of objects are I/O of the pipeline, so they count as overhead.
COMPUTE_STAGES = ("decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "encode_ms")

# Where the overhead goes, in the order an image meets it.
OVERHEAD_PARTS = ("to_upload_event", "queue_wait", "processor_io", "to_websocket")
OVERHEAD_PART_HELP = {
    "to_upload_event": "request start until the upload's ImageUploaded time: HTTP, "
    "validation, original stored",
    "queue_wait": "ImageUploaded time until the processor took it (timing breakdown)",
    "processor_io": "processor time outside compute: Started event, state lookups, download, "
    "result upload",
    "to_websocket": "Completed time until the websocket message arrived: Kafka, notifier, socket",
}


def compute_ms(timings: Mapping[str, float]) -> float:
    """The processor's compute for one image: decode, preprocess, inference, postprocess,
    encode."""
    return sum(float(timings[stage]) for stage in COMPUTE_STAGES)


@dataclass(frozen=True)
class Journey:
    """One image through the pipeline as the client saw it, with the processor's breakdown."""

    request_started: float  # the client began the upload request
    accepted: float  # the 202 answer arrived
    completed_at: float  # the Completed event's ``occurred_at``
    received: float  # the Completed message arrived on the websocket
    timings: Mapping[str, float]  # the Completed event's ``timings`` (milliseconds)


@dataclass(frozen=True)
class Overhead:
    end_to_end_ms: float
    compute_ms: float
    overhead_ms: float
    http_ms: float  # request start until the 202 arrived
    parts: Mapping[str, float]  # OVERHEAD_PARTS, adding up to overhead_ms


def overhead_of(journey: Journey) -> Overhead:
    """End to end minus compute, and that difference split into where it was spent.

    The upload's own event time is recovered as ``completed_at - total_ms`` (the breakdown's
    total runs from the upload's ``occurred_at`` to the results being stored, and Completed
    is stamped right after that).
    """
    timings = journey.timings
    end_to_end = (journey.received - journey.request_started) * 1000.0
    compute = compute_ms(timings)
    total = float(timings["total_ms"])
    queue_wait = float(timings["queue_wait_ms"])
    uploaded_at = journey.completed_at - total / 1000.0
    parts = {
        "to_upload_event": (uploaded_at - journey.request_started) * 1000.0,
        "queue_wait": queue_wait,
        "processor_io": total - queue_wait - compute,
        "to_websocket": (journey.received - journey.completed_at) * 1000.0,
    }
    return Overhead(
        end_to_end_ms=end_to_end,
        compute_ms=compute,
        overhead_ms=end_to_end - compute,
        http_ms=(journey.accepted - journey.request_started) * 1000.0,
        parts=parts,
    )


@dataclass(frozen=True)
class Throughput:
    images: int
    seconds: float

    @property
    def per_second(self) -> float:
        return ratio(float(self.images), self.seconds)


def span_throughput(started: float, finished: Sequence[float]) -> Throughput:
    """Images per second from the first request to the last completion."""
    if not finished:
        raise ValueError("no completions")
    return Throughput(images=len(finished), seconds=max(finished) - started)


def loop_throughput(durations: Sequence[float]) -> Throughput:
    """Images per second of a sequential loop whose iterations took ``durations`` seconds."""
    if not durations:
        raise ValueError("no iterations")
    return Throughput(images=len(durations), seconds=sum(durations))


def completion_curve(started: float, finished: Sequence[float]) -> list[tuple[float, int]]:
    """(seconds since start, completions so far) after each completion, for a plot."""
    return [(when - started, count) for count, when in enumerate(sorted(finished), start=1)]
