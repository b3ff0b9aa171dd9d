"""Kafka settings for one node or a cluster: every client gets the whole bootstrap list."""

from __future__ import annotations

import base64
import uuid

import pytest

from services.common.kafka.producer import producer_config
from services.common.settings import CommonSettings, KafkaSettings
from services.devstack.kafka import new_cluster_id
from services.devstack.stack import component_names, components


def test_one_node_is_the_default_and_keeps_its_name() -> None:
    kafka = KafkaSettings(port=9092)
    assert kafka.bootstrap_servers == "127.0.0.1:9092"
    assert (kafka.replication_factor, kafka.min_insync_replicas) == (1, 1)


def test_three_nodes_bootstrap_from_all_and_replicate_three_times() -> None:
    kafka = KafkaSettings(port=19092, controller_port=19093, brokers=3)
    assert kafka.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert [kafka.node_controller_port(n) for n in (1, 2, 3)] == [19093, 19095, 19097]
    assert (kafka.replication_factor, kafka.min_insync_replicas) == (3, 2)
    config = producer_config(kafka, "x")
    assert config["bootstrap_servers"] == kafka.bootstrap_servers
    assert config["acks"] == "all"


def test_an_explicit_bootstrap_list_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARCUT_KAFKA_BOOTSTRAP", "a:1, b:2")
    assert KafkaSettings().bootstrap_servers == "a:1,b:2"


def test_a_cluster_is_three_components_with_ports_and_homes_of_their_own() -> None:
    settings = CommonSettings(kafka=KafkaSettings(port=19092, controller_port=19093, brokers=3))
    nodes = components(settings, ["kafka"])
    assert [n.name for n in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [n.ports() for n in nodes] == [[19092, 19093], [19094, 19095], [19096, 19097]]
    assert len({n.data_dir for n in nodes}) == 3
    assert [n.name for n in components(settings, ["kafka-2"])] == ["kafka-2"]
    assert "kafka-3" in component_names(settings)
    single = CommonSettings(kafka=KafkaSettings(brokers=1))
    assert [n.name for n in components(single, ["kafka"])] == ["kafka"]


def test_a_new_cluster_id_never_begins_like_an_option() -> None:
    # 0xf8 as the first byte encodes to "-" in URL-safe base64: such a draw is refused.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    cluster_id = new_cluster_id(lambda: next(draws))
    assert cluster_id == base64.urlsafe_b64encode(b"\x01" * 16).decode().rstrip("=")
    assert len(cluster_id) == 22
    assert base64.urlsafe_b64encode(b"\xf8" + b"\x00" * 15).decode().startswith("-")
