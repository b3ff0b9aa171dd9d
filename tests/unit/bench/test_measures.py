"""Overhead and throughput as the benches compute them."""

from __future__ import annotations

import pytest

from bench.measures import (
    OVERHEAD_PARTS,
    Journey,
    completion_curve,
    compute_ms,
    loop_throughput,
    overhead_of,
    span_throughput,
)

TIMINGS = {
    "queue_wait_ms": 12.0,
    "download_ms": 4.0,
    "decode_ms": 10.0,
    "preprocess_ms": 40.0,
    "inference_ms": 900.0,
    "postprocess_ms": 15.0,
    "encode_ms": 35.0,
    "upload_ms": 20.0,
    "total_ms": 1050.0,
}


def test_compute_is_the_cpu_stages_only() -> None:
    # decode + preprocess + inference + postprocess + encode; not queue, download, upload
    assert compute_ms(TIMINGS) == 1000.0


def test_overhead_is_end_to_end_minus_compute_split_into_parts() -> None:
    t0 = 1_700_000_000.0
    # The upload's event at t0 + 0.030; stored 1.050 s later; Completed stamped then;
    # the websocket message 0.008 s after that.
    completed_at = t0 + 0.030 + 1.050
    journey = Journey(
        request_started=t0,
        accepted=t0 + 0.045,
        completed_at=completed_at,
        received=completed_at + 0.008,
        timings=TIMINGS,
    )
    overhead = overhead_of(journey)
    assert overhead.end_to_end_ms == pytest.approx(1088.0, abs=1e-3)
    assert overhead.compute_ms == 1000.0
    assert overhead.overhead_ms == pytest.approx(88.0, abs=1e-3)
    assert overhead.http_ms == pytest.approx(45.0, abs=1e-3)
    assert list(overhead.parts) == list(OVERHEAD_PARTS)
    assert overhead.parts["to_upload_event"] == pytest.approx(30.0, abs=1e-3)
    assert overhead.parts["queue_wait"] == 12.0
    assert overhead.parts["processor_io"] == pytest.approx(38.0)  # 1050 - 12 - 1000
    assert overhead.parts["to_websocket"] == pytest.approx(8.0, abs=1e-3)
    assert sum(overhead.parts.values()) == pytest.approx(overhead.overhead_ms)


def test_throughput_of_a_burst_runs_from_the_first_request_to_the_last_completion() -> None:
    burst = span_throughput(100.0, [103.0, 110.0, 104.0, 105.0])
    assert burst.images == 4
    assert burst.seconds == 10.0
    assert burst.per_second == pytest.approx(0.4)


def test_throughput_of_a_loop_is_its_iterations_over_their_time() -> None:
    assert loop_throughput([0.5, 1.5, 1.0, 1.0]).per_second == pytest.approx(1.0)
    with pytest.raises(ValueError):
        loop_throughput([])
    with pytest.raises(ValueError):
        span_throughput(0.0, [])


def test_completion_curve_counts_completions_in_time_order() -> None:
    assert completion_curve(10.0, [13.0, 11.0, 12.5]) == [(1.0, 1), (2.5, 2), (3.0, 3)]
