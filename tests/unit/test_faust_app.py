"""The faust app is configured from the same Kafka settings as every other client."""

from __future__ import annotations

from services.common.kafka.faust_app import create_faust_app, faust_app_settings
from services.common.settings import KafkaSettings


def test_faust_settings_follow_the_shared_kafka_settings() -> None:
    kafka = KafkaSettings(host="10.0.0.5", port=19092, linger_ms=5, compression="zstd")
    conf = faust_app_settings(kafka, web_port=8099)
    assert conf["broker"] == "kafka://10.0.0.5:19092"
    assert conf["producer_acks"] == -1
    assert conf["producer_linger"] == 0.005
    assert conf["producer_compression_type"] == "zstd"
    assert conf["topic_allow_declare"] is False
    assert conf["web_port"] == 8099


def test_created_app_carries_the_settings_without_connecting() -> None:
    kafka = KafkaSettings(host="127.0.0.1", port=9092, compression="none")
    app = create_faust_app("clearcut-test", kafka, web_port=8098)
    assert app.conf.id == "clearcut-test"
    assert str(app.conf.broker[0]) == "kafka://127.0.0.1:9092"
    assert app.conf.producer_compression_type is None
    assert app.conf.topic_allow_declare is False
    assert app.conf.web_port == 8098
