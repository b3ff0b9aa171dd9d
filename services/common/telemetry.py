"""Traces, logs and metrics for every service, configured by one call at start-up.

Telemetry must never fail a message or a request: the OTLP exporter runs in a background
batch processor that drops spans when Jaeger is unreachable, and log enrichment swallows its
own errors.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pythonjsonlogger.json import JsonFormatter

from services.common.logrepeat import RepeatLimiter
from services.common.settings import TelemetrySettings

# The image being worked on, for log lines written anywhere below a handler.
current_image_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_image_id", default=None
)


@dataclass
class Telemetry:
    service_name: str
    tracer_provider: TracerProvider
    registry: CollectorRegistry

    def tracer(self, name: str) -> trace.Tracer:
        return self.tracer_provider.get_tracer(name)

    def shutdown(self) -> None:
        """Flush what is buffered (bounded wait) and stop exporting."""
        self.tracer_provider.force_flush(timeout_millis=3000)
        self.tracer_provider.shutdown()


def setup_telemetry(service_name: str, settings: TelemetrySettings) -> Telemetry:
    """Configure tracing (OTLP to Jaeger), Kafka trace propagation, logging and metrics."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if settings.enabled:
        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True, timeout=2)
        provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=500, max_export_batch_size=256)
        )
    trace.set_tracer_provider(provider)
    instrumentor = AIOKafkaInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # Producer sends get a PRODUCER span and a `traceparent` header appended.
        instrumentor.instrument(tracer_provider=provider)
    configure_logging(service_name, settings)
    return Telemetry(service_name, provider, CollectorRegistry(auto_describe=True))


_HANDLER_NAME = "clearcut"


class _ContextFilter(logging.Filter):
    """Adds trace, span and image ids to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            ctx = trace.get_current_span().get_span_context()
            record.trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None
            record.span_id = format(ctx.span_id, "016x") if ctx.is_valid else None
            if not hasattr(record, "image_id"):
                record.image_id = current_image_id.get()
        except Exception:  # noqa: BLE001 - logging must never break the caller
            pass
        return True


def configure_logging(service_name: str, settings: TelemetrySettings) -> None:
    handler: logging.Handler
    if settings.log_file is not None:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            settings.log_file,
            maxBytes=settings.log_max_bytes,
            backupCount=settings.log_backups,
            encoding="utf-8",
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service_name},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)-7s %(name)s [trace=%(trace_id)s image=%(image_id)s] "
                "%(message)s"
            )
        )
    handler.addFilter(RepeatLimiter(settings.log_repeat_window_seconds))
    handler.addFilter(_ContextFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler, so calling this twice never doubles the lines and
    # handlers installed by others (a test runner's capture) stay.
    for existing in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # The OTLP exporter logs every failed export; one line per minute is plenty.
    logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter").setLevel(logging.ERROR)


def extract_context(headers: Sequence[tuple[str, bytes]] | None) -> otel_context.Context:
    """The trace context carried by Kafka headers (W3C traceparent/tracestate)."""
    carrier: dict[str, str] = {}
    for key, value in headers or ():
        if value is not None:
            carrier[key] = value.decode("latin-1")
    return propagate.extract(carrier)


@contextmanager
def consumer_span(
    tracer: trace.Tracer,
    topic: str,
    headers: Sequence[tuple[str, bytes]] | None,
    image_id: str | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span ``{topic} process`` continuing the trace that produced the message."""
    parent = extract_context(headers)
    token = current_image_id.set(image_id)
    try:
        with tracer.start_as_current_span(
            f"{topic} process",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.operation.type": "process",
                **({"clearcut.image_id": image_id} if image_id else {}),
            },
        ) as span:
            yield span
    finally:
        current_image_id.reset(token)


def render_metrics(registry: CollectorRegistry) -> tuple[bytes, str]:
    """Prometheus text exposition of ``registry`` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
