"""Topic administration: the project's topics, created from settings, idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.settings import KafkaSettings, TopicNames

logger = logging.getLogger(__name__)


class TopicAdminError(RuntimeError):
    pass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def project_topics(topics: TopicNames) -> list[TopicSpec]:
    """Every image topic and its dead-letter topic, as the settings describe them."""
    specs: list[TopicSpec] = []
    for topic in topics.event_topics:
        specs.append(
            TopicSpec(
                topic,
                topics.partitions,
                {"retention.ms": str(topics.retention_ms), "cleanup.policy": "delete"},
            )
        )
        specs.append(
            TopicSpec(
                topics.dlq(topic),
                1,
                {"retention.ms": str(topics.dlq_retention_ms), "cleanup.policy": "delete"},
            )
        )
    return specs


def admin_client(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers, client_id="clearcut-admin"
    )


async def create_topics(kafka: KafkaSettings, specs: list[TopicSpec]) -> dict[str, str]:
    """Create missing topics; report ``created`` or ``exists`` per topic name."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        result = {s.name: "exists" for s in specs if s.name in existing}
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        s.name,
                        s.partitions,
                        kafka.replication_factor,
                        topic_configs={
                            **s.config,
                            "min.insync.replicas": str(kafka.min_insync_replicas),
                        },
                    )
                    for s in missing
                ]
            )
            for name, code, *rest in response.topic_errors:
                if code == TopicAlreadyExistsError.errno:  # created concurrently
                    result[name] = "exists"
                elif code != 0:
                    message = rest[0] if rest else ""
                    raise TopicAdminError(f"creating topic {name} failed: error {code} {message}")
                else:
                    result[name] = "created"
        return result
    finally:
        await admin.close()


async def describe_topics(kafka: KafkaSettings, names: list[str]) -> dict[str, int]:
    """Partition count per existing topic."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
        return {t["topic"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}
    finally:
        await admin.close()
