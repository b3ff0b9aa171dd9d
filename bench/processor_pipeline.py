"""The processor's timing breakdown and peak memory on a 512x512 and a 6000x4000 JPEG.

Starts a real worker (``python -m services.processor``) on the running local stack under a
fresh topic prefix and consumer group, stores each JPEG in MinIO and publishes
ImageUploaded, one at a time (each waits for its ProcessingCompleted, so nothing queues),
and prints the ``timings`` of the events. Every upload is salted (a JPEG comment with a
fresh id) so the results-by-content index never short-cuts the model. The worker's peak
resident memory is read from ``/proc/<pid>/status`` (VmHWM) at the end.

``--versus-bare N`` compares the worker's ``inference_ms`` with a bare ONNX Runtime run of
the same image in this process, alternating. ``--png-levels`` measures PNG encoding of a
6000x4000 cut-out and mask, Pillow's encoder against the processor's, in this process.

    .venv/bin/python -m bench.processor_pipeline --repeat 3
    .venv/bin/python -m bench.processor_pipeline --png-levels
    .venv/bin/python -m bench.processor_pipeline --versus-bare 12
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from schemas.events import ProcessingCompleted
from services.common.kafka.admin import create_topics, project_topics
from services.common.kafka.producer import create_producer
from services.common.settings import CommonSettings, TopicNames
from services.processor.adapters.s3client import s3_client
from services.processor.domain.png import encode_png
from tests.integration.processor.harness import EventLog, Uploader, WorkerProcess
from tests.unit.processor import samples

STAGES = (
    "queue_wait_ms",
    "download_ms",
    "decode_ms",
    "preprocess_ms",
    "inference_ms",
    "postprocess_ms",
    "encode_ms",
    "upload_ms",
    "total_ms",
)


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def large_photo() -> np.ndarray:
    """6000x4000: the coffee photo scaled up, with mild noise as a camera would add."""
    big = Image.fromarray(samples.photo("coffee")).resize((6000, 4000), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(0).normal(0, 3, size=(4000, 6000, 3))
    return np.clip(np.asarray(big, dtype=np.float32) + noise, 0, 255).astype(np.uint8)


def jpegs() -> dict[str, bytes]:
    return {
        "512x512": samples.jpeg(samples.photo("astronaut"), quality=90),
        "6000x4000": samples.jpeg(large_photo(), quality=90),
    }


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def versus_bare(rounds: int) -> None:
    """A worker's ``inference_ms`` against a bare ONNX Runtime run of the same image,
    alternating (worker, bare, worker, bare, ...) so both see the same machine load."""
    import onnxruntime as ort

    from services.processor.domain.tensors import InputSpec, to_model_input
    from services.processor.models.configured import configured_cache, configured_registry
    from services.processor.settings import ProcessorSettings

    settings = CommonSettings()
    spec = configured_registry(ProcessorSettings()).get(None)
    path = configured_cache(ProcessorSettings(), settings).ensure(spec).path
    bare = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = bare.get_inputs()[0].name
    input_spec = InputSpec(1024, 1024, spec.mean, spec.std)
    photos = {"astronaut": samples.photo("astronaut"), "coffee": samples.photo("coffee")}
    inputs = {k: to_model_input(v, input_spec)[None] for k, v in photos.items()}
    for x in inputs.values():
        bare.run(None, {name: x})

    topics = TopicNames(prefix=f"bench.proc.{uuid.uuid4().hex[:8]}.", partitions=1)
    await create_topics(settings.kafka, project_topics(topics))
    producer = create_producer(settings.kafka, "clearcut-bench")
    await producer.start()
    events = EventLog(settings, topics)
    await events.start()
    uploader = Uploader(s3_client(settings.s3), settings, producer, topics)
    log = Path(tempfile.mkdtemp(prefix="processor-bench-")) / "worker.log"
    worker = WorkerProcess(
        topics, f"bench-processor-{uuid.uuid4().hex[:6]}", log, CLEARCUT_PROCESSOR_WARMUP_RUNS="2"
    )
    ours: list[float] = []
    theirs: list[float] = []
    try:
        worker.start()
        await worker.wait_ready()
        for round_ in range(rounds):
            photo = list(photos)[round_ % len(photos)]
            data = samples.salted(samples.png(photos[photo]), uuid.uuid4().hex)
            upload = await uploader.submit(data, "bench")
            done = await events.completed(upload.image_id, within=900)
            ours.append(done.timings.inference_ms)
            started = time.perf_counter()
            bare.run(None, {name: inputs[photo]})
            theirs.append((time.perf_counter() - started) * 1000)
    finally:
        worker.stop()
        await events.stop()
        await producer.stop()
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    out(f"{rounds} images, alternating worker and bare ONNX Runtime")
    out(f"worker inference_ms : median {statistics.median(ours):8.1f}  min {min(ours):8.1f}")
    out(f"bare session.run ms : median {statistics.median(theirs):8.1f}  min {min(theirs):8.1f}")
    out(
        f"worker / bare: median of per-image ratios {statistics.median(ratios):.3f}, "
        f"of medians {statistics.median(ours) / statistics.median(theirs):.3f}, "
        f"of minimums {min(ours) / min(theirs):.3f}"
    )


async def breakdown(repeat: int) -> None:
    settings = CommonSettings()
    topics = TopicNames(prefix=f"bench.proc.{uuid.uuid4().hex[:8]}.", partitions=1)
    await create_topics(settings.kafka, project_topics(topics))
    producer = create_producer(settings.kafka, "clearcut-bench")
    await producer.start()
    events = EventLog(settings, topics)
    await events.start()
    uploader = Uploader(s3_client(settings.s3), settings, producer, topics)
    log = Path(tempfile.mkdtemp(prefix="processor-bench-")) / "worker.log"
    worker = WorkerProcess(topics, f"bench-processor-{uuid.uuid4().hex[:6]}", log)
    images = jpegs()
    try:
        worker.start()
        await worker.wait_ready()
        assert worker.process is not None
        ready_mb = vm_hwm_mb(worker.process.pid)
        results: dict[str, list[ProcessingCompleted]] = {name: [] for name in images}
        peaks: dict[str, float] = {}
        for name, data in images.items():
            out(f"{name}: {len(data):,} bytes of JPEG")
            for _ in range(repeat):
                upload = await uploader.submit(samples.salted(data, uuid.uuid4().hex), "bench")
                results[name].append(await events.completed(upload.image_id, within=900))
            peaks[name] = vm_hwm_mb(worker.process.pid)
    finally:
        worker.stop()
        await events.stop()
        await producer.stop()

    out()
    out(f"median of {repeat} runs, ms" + "".join(f" | {name:>10}" for name in images))
    for stage in STAGES:
        row = [statistics.median(getattr(c.timings, stage) for c in results[n]) for n in images]
        out(f"{stage:<24}" + "".join(f" | {value:10.1f}" for value in row))
    for name in images:
        sizes = {r.kind.value: r.size for r in results[name][0].results}
        out(f"{name}: cut-out {sizes['cutout']:,} bytes, mask {sizes['mask']:,} bytes")
    out(
        f"worker peak RSS (VmHWM): {ready_mb:.0f} MB when ready"
        + "".join(f", {peak:.0f} MB after the {name} runs" for name, peak in peaks.items())
    )
    out(f"worker log: {log}")


def png_levels() -> None:
    """Pillow's PNG writer (zlib, adaptive filters) against the processor's (ISA-L, Sub)."""
    rgb = Image.fromarray(large_photo())
    alpha = Image.new("L", rgb.size, 0)
    ImageDraw.Draw(alpha).ellipse((1200, 400, 4800, 3800), fill=255)
    alpha = alpha.filter(ImageFilter.GaussianBlur(8))
    cutout = rgb.convert("RGBA")
    cutout.putalpha(alpha)

    def pillow(image: Image.Image, level: int) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=level)
        return buffer.getvalue()

    def ours(image: Image.Image, level: int) -> bytes:
        return encode_png(image, level=level)

    out("encoder         level | cut-out ms |   cut-out bytes | mask ms | mask bytes")
    for name, encode, levels in (
        ("pillow (zlib)", pillow, (0, 1, 3, 6)),
        ("processor", ours, (0, 1, 2, 3)),
    ):
        for level in levels:
            timings, sizes = [], []
            for image in (cutout, alpha):
                started = time.perf_counter()
                sizes.append(len(encode(image, level)))
                timings.append((time.perf_counter() - started) * 1000)
            out(
                f"{name:<15} {level:5d} | {timings[0]:10.0f} | {sizes[0]:15,} | "
                f"{timings[1]:7.0f} | {sizes[1]:10,}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per image")
    parser.add_argument("--png-levels", action="store_true", help="measure PNG levels instead")
    parser.add_argument(
        "--versus-bare", type=int, metavar="N", help="N images: worker against bare ONNX Runtime"
    )
    args = parser.parse_args()
    if args.versus_bare:
        asyncio.run(versus_bare(args.versus_bare))
    elif args.png_levels:
        png_levels()
    else:
        asyncio.run(breakdown(args.repeat))


if __name__ == "__main__":
    main()
