"""Cutting an upload's trace into the intervals of its journey."""

from __future__ import annotations

from typing import Any

import pytest

from bench.traces import GAPS, IncompleteTrace, Span, journey_gaps, spans_of

T0 = 1_700_000_000.0


def _span(service: str, operation: str, start_ms: float, duration_ms: float) -> Span:
    return Span(service, operation, T0 + start_ms / 1000, duration_ms / 1000)


SPANS = [
    _span("upload", "POST /v1/images", 2, 40),
    _span("upload", "image.uploaded send", 30, 0.1),
    _span("projector", "image.uploaded process", 33, 5),
    _span("processor", "processor.task", 36, 1100),
    _span("processor", "bench.image.processing.started send", 50, 0.1),
    _span("processor", "processor.download", 60, 5),
    _span("processor", "processor.decode", 66, 10),
    _span("processor", "processor.upload", 1065, 30),
    _span("processor", "image.processing.completed send", 1100, 0.2),
    _span("notifier", "image.processing.completed process", 1104, 1),
]


def test_the_intervals_follow_the_span_edges_and_add_up_to_end_to_end() -> None:
    gaps = journey_gaps(SPANS, T0, T0 + 1.110)
    assert list(gaps) == list(GAPS)
    expected = {
        "client_to_api": 2,
        "api_to_publish": 28,
        "kafka_to_processor": 6,
        "task_to_started": 14,
        "started_to_download": 10,
        "download": 5,
        "compute": 1000,
        "result_upload": 30,
        "to_completed_send": 5,
        "kafka_to_notifier": 4,
        "notifier_to_client": 6,
    }
    for name, value in expected.items():
        assert gaps[name] == pytest.approx(value, abs=1e-3), name
    assert sum(gaps.values()) == pytest.approx(1110, abs=1e-3)


def test_a_trace_without_a_span_is_incomplete() -> None:
    with pytest.raises(IncompleteTrace, match="notifier"):
        journey_gaps(SPANS[:-1], T0, T0 + 1.2)


def test_jaeger_json_becomes_spans_in_start_order() -> None:
    trace: dict[str, Any] = {
        "processes": {"p1": {"serviceName": "upload"}, "p2": {"serviceName": "processor"}},
        "spans": [
            {
                "processID": "p2",
                "operationName": "processor.task",
                "startTime": 2_000_000,
                "duration": 500,
            },
            {
                "processID": "p1",
                "operationName": "POST /v1/images",
                "startTime": 1_000_000,
                "duration": 1500,
            },
        ],
    }
    assert spans_of(trace) == [
        Span("upload", "POST /v1/images", 1.0, 0.0015),
        Span("processor", "processor.task", 2.0, 0.0005),
    ]
