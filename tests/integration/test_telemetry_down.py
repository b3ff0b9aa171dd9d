"""With Jaeger unreachable, events are still published and consumed, and nothing hangs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from services.common.settings import CommonSettings, TopicNames

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, uuid
    from aiokafka import AIOKafkaConsumer
    from schemas import ImageUploaded
    from services.common.kafka.admin import create_topics, project_topics
    from services.common.kafka.consumer import EventConsumer, consumer_config
    from services.common.kafka.producer import EventPublisher, create_producer
    from services.common.settings import CommonSettings, TopicNames
    from services.common.telemetry import setup_telemetry

    async def main() -> None:
        settings = CommonSettings()
        telemetry = setup_telemetry("telemetry-down", settings.telemetry)
        topics = TopicNames(prefix=sys.argv[1], partitions=1)
        await create_topics(settings.kafka, project_topics(topics))
        producer = create_producer(settings.kafka, "telemetry-down")
        await producer.start()
        event = ImageUploaded.model_validate_json(open(sys.argv[2]).read())
        with telemetry.tracer("t").start_as_current_span("root"):
            await EventPublisher(producer, topics, "/tests").publish(event)
        seen = []
        async def handler(envelope):
            seen.append(envelope.id)
        group = "g-" + uuid.uuid4().hex
        consumer = AIOKafkaConsumer(
            topics.uploaded, **consumer_config(settings.kafka, group, "t"))
        await consumer.start()
        runner = EventConsumer(consumer, producer, topics, handler, group_id=group,
                               tracer=telemetry.tracer("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        for _ in range(600):
            if seen:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await consumer.stop()
        await producer.stop()
        telemetry.shutdown()
        print(json.dumps({"seen": seen, "expected": event.event_id}))

    asyncio.run(main())
    """
)


def test_events_flow_while_jaeger_is_unreachable(
    stack: CommonSettings, unique: str, tmp_path: os.PathLike[str]
) -> None:
    from tests.integration.conftest import uploaded_event

    event = uploaded_event()
    example = os.path.join(tmp_path, "event.json")
    with open(example, "w") as f:
        f.write(event.model_dump_json())
    topics = TopicNames(prefix=f"test.{unique}.")
    # Nothing listens on port 9 of loopback: every export fails.
    env = {**os.environ, "CLEARCUT_OTEL_OTLP_GRPC_PORT": "9", "CLEARCUT_OTEL_LOG_FORMAT": "text"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, topics.prefix, example],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,  # shutdown must not hang on the dead exporter
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last_line = result.stdout.strip().splitlines()[-1]
    assert f'"seen": ["{event.event_id}"]' in last_line
