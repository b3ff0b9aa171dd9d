"""In-memory stand-ins for the pipeline's ports (store, publisher, model), for unit tests."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from opentelemetry import trace
from PIL import Image
from prometheus_client import CollectorRegistry

from schemas.events import EventBase, ImageUploaded, new_event_id, utc_now
from schemas.values import ExecutionProvider, InferenceRuntime, ModelRef
from services.processor.adapters.blobstore import MemoryBlobStore, StoreUnavailable
from services.processor.adapters.events import BrokerUnavailable
from services.processor.adapters.state import ProcessorState
from services.processor.domain.tensors import InputSpec, to_model_input
from services.processor.flow import Flow, FlowLimits, PipelineConfig
from services.processor.metrics import ProcessorMetrics
from services.processor.models.registry import Registry
from services.processor.runtime.pool import ModelPool
from tests.unit.processor import samples

ORIGINALS = "originals"
RESULTS = "results"
STATE = "state"


def random_photo(seed: int) -> bytes:
    """A small, bright (never black) PNG of random pixels."""
    rng = np.random.default_rng(seed)
    return samples.png(rng.integers(40, 255, size=(24, 32, 3), dtype=np.uint8))


class FakeStore(MemoryBlobStore):
    """The in-memory store, with objects that can be made unreachable."""

    def __init__(self) -> None:
        super().__init__()
        self.unavailable: set[tuple[str, str]] = set()

    async def get(self, bucket: str, key: str) -> bytes:
        if (bucket, key) in self.unavailable:
            raise StoreUnavailable(f"get {bucket}/{key}: connection refused")
        return await super().get(bucket, key)


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[EventBase] = []
        self.broken = False

    async def publish(self, event: EventBase) -> None:
        if self.broken:
            raise BrokerUnavailable("broker down")
        self.events.append(event)

    def of(self, kind: type[Any], image_id: str | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (image_id is None or e.image_id == image_id)
        ]


class FakeModel:
    """Mask = mean brightness of the input; refuses batches holding an all-black image."""

    def __init__(self, name: str, max_batch: int) -> None:
        self.ref = ModelRef(
            name=name, version="1", sha256=hashlib.sha256(name.encode()).hexdigest()
        )
        self.provider = ExecutionProvider.CPU
        self.max_batch = max_batch
        self.input_spec = InputSpec(16, 16, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
        self.batches: list[int] = []

    runtime = InferenceRuntime.ONNXRUNTIME

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        return to_model_input(rgb, self.input_spec)

    def infer(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        batch = np.stack(list(inputs))
        if any(float(item.max()) <= -0.5 for item in batch):
            raise RuntimeError("the model cannot take a black image")
        self.batches.append(batch.shape[0])
        masks: np.ndarray = batch.mean(axis=1, keepdims=True)
        return masks

    def warm_up(self, runs: int) -> list[float]:
        return [0.0] * runs


def registry(*names: str) -> Registry:
    model = {
        "version": "1",
        "sha256": "0" * 64,
        "size": 1,
        "input_size": [16, 16],
        "mean": [0.5, 0.5, 0.5],
        "std": [1.0, 1.0, 1.0],
        "sources": [{"kind": "file", "location": "/x"}],
    }
    return Registry.model_validate(
        {"default": names[0], "model": [{"name": n, **model} for n in names]}
    )


class Harness:
    """A pipeline wired to fakes; ``models`` are the fake models by name."""

    def __init__(
        self,
        *,
        max_batch: int = 1,
        reuse: bool = True,
        limits: FlowLimits | None = None,
        dead_letters: Any = None,
    ) -> None:
        self.store = FakeStore()
        self.publisher = FakePublisher()
        self.models = {n: FakeModel(n, max_batch) for n in ("default-model", "other-model")}
        self.metrics = ProcessorMetrics(CollectorRegistry())
        self._executors = [ThreadPoolExecutor(2), ThreadPoolExecutor(1)]
        pool = ModelPool(
            registry("default-model", "other-model"),
            lambda spec: self.models[spec.name],
            self._executors[1],
        )
        self.pipeline = Flow(
            PipelineConfig(
                worker_id="worker-1",
                results_bucket=RESULTS,
                max_pixels=10_000_000,
                png_level=1,
                webp_quality=80,
                reuse_results=reuse,
            ),
            limits or FlowLimits(retry_initial_s=0.01, retry_max_s=0.05),
            models=pool,
            store=self.store,
            state=ProcessorState(self.store, STATE),
            publisher=self.publisher,
            dead_letters=lambda: dead_letters,
            cpu=self._executors[0],
            inference=self._executors[1],
            tracer=trace.get_tracer("tests"),
            metrics=self.metrics,
        )

    def upload(self, data: bytes, **options: Any) -> ImageUploaded:
        image_id = f"img-{uuid.uuid4().hex[:8]}"
        key = f"{image_id}/original"
        self.store.objects[ORIGINALS, key] = data
        try:
            width, height = Image.open(io.BytesIO(data)).size
        except OSError:
            width, height = 1, 1
        return ImageUploaded.model_validate(
            {
                "event_id": new_event_id(),
                "image_id": image_id,
                "owner": "alice",
                "occurred_at": utc_now(),
                "task_id": f"task-{uuid.uuid4().hex[:8]}",
                "original": {
                    "bucket": ORIGINALS,
                    "key": key,
                    "size": max(len(data), 1),
                    "content_type": "image/png",
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "width": width,
                    "height": height,
                },
                "options": {"output_format": "png", "background": "transparent", **options},
            }
        )

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True)
