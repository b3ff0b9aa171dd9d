"""Structured log lines carry the service, trace, span and image ids."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from services.common.settings import TelemetrySettings
from services.common.telemetry import configure_logging, current_image_id


@pytest.fixture
def captured() -> io.StringIO:
    configure_logging("upload", TelemetrySettings(log_format="json", log_level="INFO"))
    stream = io.StringIO()
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "clearcut"]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


def test_log_line_is_json_with_trace_span_and_image_ids(captured: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("t")
    token = current_image_id.set("img-1")
    try:
        with tracer.start_as_current_span("work") as span:
            logging.getLogger("clearcut.test").info("stored %s bytes", 42)
            ctx = span.get_span_context()
    finally:
        current_image_id.reset(token)
    line = json.loads(captured.getvalue().strip().splitlines()[-1])
    assert line["message"] == "stored 42 bytes"
    assert line["service"] == "upload"
    assert line["level"] == "INFO"
    assert line["logger"] == "clearcut.test"
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")
    assert line["image_id"] == "img-1"


def test_explicit_image_id_wins_and_no_span_means_no_trace(captured: io.StringIO) -> None:
    logging.getLogger("clearcut.test").warning("odd", extra={"image_id": "img-2"})
    line = json.loads(captured.getvalue().strip().splitlines()[-1])
    assert line["image_id"] == "img-2"
    assert line["trace_id"] is None
    assert line["level"] == "WARNING"
