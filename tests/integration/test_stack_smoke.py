"""Each part of the stack is real: talk to it over a real connection and get an answer."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from datetime import timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import NewTopic
from minio import Minio
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from services.common.kafka.admin import admin_client
from services.common.settings import CommonSettings
from services.processor.models.cache import sha256_of
from services.run import model


async def test_kafka_round_trip_keeps_key_value_and_headers(
    stack: CommonSettings, unique: str
) -> None:
    topic = f"smoke.{unique}"
    admin = admin_client(stack.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka.bootstrap_servers, enable_idempotence=True
    )
    await producer.start()
    headers = [("ce_id", b"abc"), ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    try:
        await producer.send_and_wait(topic, b"payload", key=b"image-1", headers=headers)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka.bootstrap_servers,
        group_id=f"smoke-{unique}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert message.key == b"image-1"
    assert message.value == b"payload"
    assert list(message.headers) == headers


async def test_broker_refuses_to_auto_create_topics(stack: CommonSettings, unique: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka.bootstrap_servers, request_timeout_ms=3000
    )
    await producer.start()
    try:
        # Metadata for an unknown topic never arrives when auto-creation is off.
        await asyncio.wait_for(producer.send_and_wait(f"never-created.{unique}", b"x"), timeout=10)
    except Exception as exc:  # noqa: BLE001 - any refusal is the expected outcome
        refused: Exception | None = exc
    else:
        refused = None
    finally:
        await producer.stop()
    assert refused is not None, "the broker created a topic on first use"
    admin = admin_client(stack.kafka)
    await admin.start()
    try:
        assert f"never-created.{unique}" not in await admin.list_topics()
    finally:
        await admin.close()


def test_minio_put_get_and_presign(stack: CommonSettings, unique: str) -> None:
    s3 = stack.s3
    client = Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        secure=s3.secure,
        region=s3.region,
    )
    for bucket in s3.buckets:
        assert client.bucket_exists(bucket), f"bucket {bucket} was not created by stack up"
    key = f"smoke/{unique}.bin"
    body = uuid.uuid4().bytes * 100
    client.put_object(s3.bucket_originals, key, io.BytesIO(body), len(body))
    response = client.get_object(s3.bucket_originals, key)
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()
    url = client.presigned_get_object(s3.bucket_originals, key, expires=timedelta(minutes=1))
    fetched = httpx.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == body
    client.remove_object(s3.bucket_originals, key)


async def test_postgres_answers_as_the_project_role(stack: CommonSettings) -> None:
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        row = await conn.fetchrow("SELECT current_user, current_database(), 6 * 7 AS answer")
    finally:
        await conn.close()
    assert row is not None
    assert (row["current_user"], row["current_database"], row["answer"]) == (
        stack.postgres.user,
        stack.postgres.database,
        42,
    )


def test_span_exported_over_otlp_is_found_in_jaeger(stack: CommonSettings, unique: str) -> None:
    service = f"smoke-{unique}"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=stack.telemetry.otlp_endpoint, insecure=True))
    )
    with provider.get_tracer("smoke").start_as_current_span("smoke-span") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()

    deadline = time.monotonic() + 30
    found: list[str] = []
    while time.monotonic() < deadline and not found:
        r = httpx.get(f"{stack.telemetry.query_url}/api/traces", params={"service": service})
        if r.status_code == 200:
            found = [t["traceID"] for t in r.json()["data"]]
        if not found:
            time.sleep(0.5)
    assert found == [trace_id]


def test_default_model_file_matches_its_sha256(stack: CommonSettings) -> None:
    cache, spec = model.default_model(stack)
    path = cache.path(spec)
    assert path == model.model_path(stack)
    assert path.stat().st_size == spec.size == 88_188_479
    assert sha256_of(path) == spec.sha256
    assert spec.sha256 == "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"
