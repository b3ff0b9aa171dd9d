"""The processor's own stage flow with nothing around it: originals in memory, events
dropped; with the null model (``ceiling``) or the default model (``burst``), the per-box
ceiling without Kafka, MinIO or the other services.

It is the processor's ``Flow`` (``services/processor/flow.py``) with its real stages, CPU
pool and inference executor, built as the composition root builds it; only the object store
(the processor's ``MemoryBlobStore``) and the publisher are in-memory stand-ins.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.processor.models.registry import Registry


class DroppedEvents:
    def __init__(self) -> None:
        self.count = 0

    async def publish(self, event: Any) -> None:
        self.count += 1


def images_per_second(
    registry: Registry, model: Path, bodies: list[bytes], size: tuple[int, int]
) -> float:
    """Run ``bodies`` (JPEGs of ``size``) through the flow at once with the registry's
    default model, whose file is ``model``; images per second."""
    return asyncio.run(_run(registry, model, bodies, size))


async def _run(
    registry: Registry, model: Path, bodies: list[bytes], size: tuple[int, int]
) -> float:
    from datetime import UTC, datetime

    from opentelemetry import trace
    from prometheus_client import CollectorRegistry

    from schemas.events import ImageUploaded, new_event_id, utc_now
    from services.processor.adapters.blobstore import MemoryBlobStore
    from services.processor.adapters.state import ProcessorState
    from services.processor.composition import cpu_pool, flow_limits
    from services.processor.flow import Flow, PipelineConfig
    from services.processor.metrics import ProcessorMetrics
    from services.processor.runtime.pool import ModelPool
    from services.processor.runtime.session import load_session
    from services.processor.settings import ProcessorSettings
    from services.processor.taskrun import Inbound

    settings = ProcessorSettings()
    cpu = cpu_pool(settings, "flow-alone-cpu")
    inference = ThreadPoolExecutor(1, thread_name_prefix="flow-alone-inference")
    session = load_session(registry.get(None), model, settings)
    models = ModelPool(registry, lambda spec: session, inference)
    await models.get(None)
    store, events = MemoryBlobStore(), DroppedEvents()
    flow = Flow(
        PipelineConfig("flow-alone", "results", settings.max_pixels, 1, 90, False),
        flow_limits(settings, session.max_batch),
        models=models,
        store=store,
        state=ProcessorState(store, "state"),
        publisher=events,
        dead_letters=lambda: None,  # type: ignore[arg-type, return-value]
        cpu=cpu,
        inference=inference,
        tracer=trace.get_tracer("bench"),
        metrics=ProcessorMetrics(CollectorRegistry()),
    )
    batch = []
    for body in bodies:
        key = uuid.uuid4().hex
        store.objects["originals", key] = body
        upload = ImageUploaded.model_validate(
            {
                "event_id": new_event_id(),
                "image_id": key,
                "owner": "bench",
                "occurred_at": utc_now(),
                "task_id": f"task-{key}",
                "original": {
                    "bucket": "originals",
                    "key": key,
                    "size": len(body),
                    "content_type": "image/jpeg",
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "width": size[0],
                    "height": size[1],
                },
                "options": {"output_format": "png", "background": "transparent"},
            }
        )
        batch.append(Inbound(upload, [], datetime.now(UTC)))
    try:
        started = time.perf_counter()
        await flow.process(batch)
        elapsed = time.perf_counter() - started
    finally:
        cpu.shutdown()
        inference.shutdown()
    completed = sum(1 for (bucket, _) in store.objects if bucket == "results") // 2
    if completed != len(bodies):
        raise RuntimeError(f"the flow completed {completed} of {len(bodies)} images")
    return len(bodies) / elapsed
