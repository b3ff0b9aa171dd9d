"""A faust application configured from the same settings as every other Kafka client.

faust is only installed with the processor's extras, so it is imported when called.
Outside transactions faust's own producer is not idempotent; events that must not be lost
or duplicated should go through ``EventPublisher`` (see ``producer.py``) and be awaited.
"""

from __future__ import annotations

from typing import Any

from services.common.settings import KafkaSettings


def faust_app_settings(
    kafka: KafkaSettings, *, web_port: int, web_host: str = "127.0.0.1"
) -> dict[str, Any]:
    compression = None if kafka.compression == "none" else kafka.compression
    return {
        "broker": f"kafka://{kafka.bootstrap_servers}",
        "producer_acks": -1,
        "producer_linger": kafka.linger_ms / 1000.0,
        "producer_compression_type": compression,
        "consumer_auto_offset_reset": "earliest",
        # The project's topics are created by `clearcut topics create`, with retention and
        # partitions from the settings; faust must not declare them with its defaults.
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "web_enabled": True,
        "web_port": web_port,
        "web_bind": web_host,
        "broker_commit_interval": 1.0,
        "store": "memory://",
    }


def create_faust_app(
    name: str,
    kafka: KafkaSettings,
    *,
    web_port: int,
    web_host: str = "127.0.0.1",
    **overrides: Any,
) -> Any:
    """A ``faust.App`` with OpenTelemetry process spans continuing each event's trace."""
    import faust
    from faust.contrib.opentelemetry import setup_opentelemetry

    settings = faust_app_settings(kafka, web_port=web_port, web_host=web_host)
    app = faust.App(name, **{**settings, **overrides})
    setup_opentelemetry(app)
    return app
