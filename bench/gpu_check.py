"""The processor's GPU path, checked on one machine without Kafka or MinIO: ``gpu_check.sh``.

Everything runs the processor's own code: the runtime adapters (``runtime/torch_session.py``
or ``runtime/session.py``), their ``prepare``/``infer``, and the finish stage of
``imagework`` (mask, composite, PNG). It measures

1. masks of the runtime under test against ONNX Runtime on the CPU (IoU at 0.5, per photo);
2. images/s of ``infer`` alone at each batch size and precision, with the GPU memory used;
3. the prepare → infer → finish stages fed from decoded photos in memory: a CPU pool
   prepares and finishes, one thread infers in dynamic batches (the per-box ceiling
   without the broker and the object store);
4. ``nvidia-smi`` utilisation sampled while 2 and 3 run, when ``nvidia-smi`` is there.

It writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out``. ``--reduced`` is the quick
form the test suite runs on a CPU machine: fewer photos, batches and seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import numpy as np
from PIL import Image

from bench import photos
from bench.nullmodel import write_null_model
from schemas.values import OutputFormat
from services.processor import imagework
from services.processor.domain.decoding import DecodedImage
from services.processor.domain.finish import FinishOptions
from services.processor.domain.tensors import normalise_mask
from services.processor.domain.timing import StageTimes
from services.processor.models.registry import ModelSpec, load_registry
from services.processor.runtime.model import LoadedModel
from services.processor.runtime.session import load_session
from services.processor.settings import (
    REGISTRY_FILE,
    Precision,
    ProcessorSettings,
    ProviderChoice,
    RuntimeChoice,
)

FULL_BATCHES = (1, 4, 8, 16, 32)
REDUCED_BATCHES = (1, 2)


@dataclass
class Utilisation:
    """``nvidia-smi`` samples (time, GPU %, memory MiB) taken in the background."""

    samples: list[tuple[float, float, float]] = field(default_factory=list)
    available: bool = False

    def between(self, start: float, end: float) -> dict[str, float] | None:
        window = [s for s in self.samples if start <= s[0] <= end]
        if not window:
            return None
        return {
            "gpu_util_mean_pct": round(statistics.fmean(s[1] for s in window), 1),
            "gpu_util_max_pct": max(s[1] for s in window),
            "gpu_memory_max_mib": max(s[2] for s in window),
        }


@contextmanager
def sampling_nvidia_smi() -> Iterator[Utilisation]:
    found = Utilisation()
    binary = shutil.which("nvidia-smi")
    if binary is None:
        yield found
        return
    found.available = True
    query = [
        binary,
        "--query-gpu=utilization.gpu,memory.used",
        "--format=csv,noheader,nounits",
        "-lms",
        "200",
    ]
    process = subprocess.Popen(query, stdout=subprocess.PIPE, text=True)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                util, memory = (float(part) for part in line.split(",")[:2])
            except ValueError:
                continue
            found.samples.append((time.perf_counter(), util, memory))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield found
    finally:
        process.terminate()
        process.wait(timeout=5)
        reader.join(timeout=5)


def settings_for(runtime: RuntimeChoice, batch: int, precision: Precision) -> ProcessorSettings:
    return ProcessorSettings(
        runtime=runtime,
        provider=ProviderChoice.CPU
        if runtime is RuntimeChoice.ONNXRUNTIME
        else ProviderChoice.AUTO,
        max_batch=batch,
        torch_precision=precision,
    )


def load(
    runtime: RuntimeChoice, spec: ModelSpec, path: Path, batch: int, precision: Precision
) -> LoadedModel:
    settings = settings_for(runtime, batch, precision)
    if runtime is RuntimeChoice.TORCH:
        from services.processor.runtime.torch_session import load_torch_model

        return load_torch_model(spec, path, settings)
    return load_session(spec, path, settings)


def torch_memory() -> tuple[Callable[[], None], Callable[[], float | None]]:
    """Reset and read PyTorch's peak CUDA memory (MiB); no-ops without PyTorch on CUDA."""
    try:
        import torch
    except ImportError:
        return (lambda: None), (lambda: None)
    if not torch.cuda.is_available():
        return (lambda: None), (lambda: None)

    def reset() -> None:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    def peak() -> float:
        torch.cuda.synchronize()
        return round(float(torch.cuda.max_memory_allocated()) / 2**20, 1)

    return reset, peak


def iou(a: np.ndarray, b: np.ndarray) -> float:
    left, right = a >= 128, b >= 128
    union = np.logical_or(left, right).sum()
    return 1.0 if union == 0 else float(np.logical_and(left, right).sum() / union)


def masks_against_cpu(
    model: LoadedModel, reference: LoadedModel, images: dict[str, np.ndarray]
) -> dict[str, float]:
    result = {}
    for name, rgb in images.items():
        ours = normalise_mask(model.infer([model.prepare(rgb)])[0])
        theirs = normalise_mask(reference.infer([reference.prepare(rgb)])[0])
        result[name] = round(iou(ours, theirs), 5)
    return result


def infer_rate(model: LoadedModel, rgb: np.ndarray, batch: int, seconds: float) -> dict[str, Any]:
    """Images/s of ``infer`` over batches of ``batch`` copies of one prepared photo."""
    inputs = [model.prepare(rgb)] * batch
    model.infer(inputs)
    runs, started = 0, time.perf_counter()
    while True:
        model.infer(inputs)
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and runs >= 2:
            break
    return {
        "images_per_s": round(runs * batch / elapsed, 2),
        "ms_per_batch": round(1000 * elapsed / runs, 2),
    }


def stages_ceiling(
    model: LoadedModel, images: Sequence[np.ndarray], cpu_threads: int
) -> dict[str, Any]:
    """prepare (CPU pool) → infer (one thread, dynamic batches) → finish (CPU pool)."""
    options = imagework.EncodeOptions(OutputFormat.PNG, "transparent", 1, 90)
    decoded = [photos_decoded(rgb) for rgb in images]
    ready: Queue[tuple[int, np.ndarray]] = Queue()
    finished: list[Future[None]] = []
    batches: list[int] = []
    with ThreadPoolExecutor(cpu_threads) as pool:

        def prepare(index: int) -> None:
            ready.put((index, model.prepare(np.asarray(decoded[index].rgb))))

        defaults = ProcessorSettings()
        finish_options = FinishOptions.configured(
            "transparent", defaults.foreground_estimation, defaults.mask_upsampling
        )

        def finish(index: int, output: np.ndarray) -> None:
            stages = StageTimes()
            alpha, image, _ = imagework.postprocess(
                output, decoded[index], finish_options, stages=stages
            )
            imagework.encode_cutout_result(image, options, None)
            imagework.encode_mask_result(alpha, options)

        started = time.perf_counter()
        for index in range(len(decoded)):
            pool.submit(prepare, index)
        done = 0
        while done < len(decoded):
            items = [ready.get()]
            while len(items) < model.max_batch:
                try:
                    items.append(ready.get_nowait())
                except Empty:
                    break
            outputs = model.infer([x for _, x in items])
            batches.append(len(items))
            for position, (index, _) in enumerate(items):
                finished.append(pool.submit(finish, index, outputs[position]))
            done += len(items)
        for future in finished:
            future.result()
        elapsed = time.perf_counter() - started
    return {
        "images": len(decoded),
        "images_per_s": round(len(decoded) / elapsed, 2),
        "mean_batch": round(statistics.fmean(batches), 2),
        "cpu_threads": cpu_threads,
    }


def photos_decoded(rgb: np.ndarray) -> DecodedImage:
    """A decoded image as the fetch-and-decode stage hands it on, from pixels in memory."""
    return DecodedImage(Image.fromarray(rgb), None, None, "RGB", "JPEG")


def model_file(spec: ModelSpec, given: Path | None) -> Path:
    """``given``, or the file in the model cache; its sha256 must be the registry's."""
    cache = Path(
        os.environ.get("CLEARCUT_MODEL_CACHE", Path.home() / ".cache" / "clearcut" / "models")
    )
    path = given or cache / spec.name / spec.version / "model.onnx"
    if not path.is_file():
        raise SystemExit(f"model file {path} not found: pass --model-file (see bench/GPU.md)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise SystemExit(f"{path}: sha256 {digest} is not the registry's {spec.sha256}")
    return path


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# GPU check: {report['model']} on {report['runtime']} ({report['device']})",
        "",
        f"{report['machine']}; reduced: {report['reduced']}",
        "",
        "## Masks against ONNX Runtime on the CPU (IoU at 0.5)",
        "",
        "| photo | IoU |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in report["masks_iou"].items()],
        "",
        "## infer alone",
        "",
        "| precision | batch | images/s | ms per batch | peak GPU memory MiB | GPU util mean % |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["throughput"]:
        util = (row.get("nvidia_smi") or {}).get("gpu_util_mean_pct", "n/a")
        memory = row["peak_memory_mib"] if row["peak_memory_mib"] is not None else "n/a"
        cells = [row["precision"], row["batch"], row["images_per_s"], row["ms_per_batch"]]
        lines.append("| " + " | ".join(str(c) for c in [*cells, memory, util]) + " |")
    ceiling = report["stages"]
    util = (ceiling.get("nvidia_smi") or {}).get("gpu_util_mean_pct", "n/a")
    lines += [
        "",
        "## prepare → infer → finish from decoded photos in memory",
        "",
        "| images | images/s | mean batch | CPU threads | max batch | GPU util mean % |",
        "|---|---|---|---|---|---|",
        f"| {ceiling['images']} | {ceiling['images_per_s']} | {ceiling['mean_batch']} "
        f"| {ceiling['cpu_threads']} | {ceiling['max_batch']} | {util} |",
        "",
        f"Took {report['seconds']} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/gpu_check.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument(
        "--model", default=None, help="registry name; the registry's default if absent"
    )
    parser.add_argument("--registry", type=Path, default=REGISTRY_FILE)
    parser.add_argument("--model-file", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/results/gpu_check"))
    parser.add_argument("--reduced", action="store_true", help="the quick CPU form the tests run")
    parser.add_argument(
        "--null-model",
        action="store_true",
        help="run the bench's near-free model (ISNet's shapes) instead of a registered one",
    )
    parser.add_argument("--seconds", type=float, default=None, help="per throughput point")
    parser.add_argument("--images", type=int, default=None, help="photos through the stages")
    parser.add_argument("--cpu-threads", type=int, default=None)
    args = parser.parse_args(argv)

    began = time.perf_counter()
    runtime = RuntimeChoice(args.runtime)
    if args.null_model:
        null = write_null_model(args.out / "null-model")
        args.registry, args.model_file = null.registry, null.path
    spec = load_registry(args.registry).get(args.model)
    path = model_file(spec, args.model_file)
    batches = REDUCED_BATCHES if args.reduced else FULL_BATCHES
    precisions = (
        [Precision.FP32, Precision.FP16] if runtime is RuntimeChoice.TORCH else [Precision.FP32]
    )
    seconds = args.seconds if args.seconds is not None else (0.5 if args.reduced else 4.0)
    count = args.images if args.images is not None else (4 if args.reduced else 256)
    cpu_threads = args.cpu_threads or max(1, (os.cpu_count() or 2) - 1)
    album = photos.photos()
    names = list(album)[: 2 if args.reduced else None]
    reset, peak = torch_memory()

    reference = load(RuntimeChoice.ONNXRUNTIME, spec, path, 1, Precision.FP32)
    under_test = load(runtime, spec, path, 1, precisions[-1])
    report: dict[str, Any] = {
        "model": spec.name,
        "runtime": runtime.value,
        "device": under_test.provider.value,
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "reduced": args.reduced,
        "masks_iou": masks_against_cpu(under_test, reference, {n: album[n] for n in names}),
        "throughput": [],
    }
    del reference, under_test
    photo = album[names[0]]
    with sampling_nvidia_smi() as smi:
        report["nvidia_smi"] = smi.available
        for precision in precisions:
            for batch in batches:
                model = load(runtime, spec, path, batch, precision)
                reset()
                start = time.perf_counter()
                row = {
                    "precision": precision.value,
                    "batch": batch,
                    **infer_rate(model, photo, batch, seconds),
                }
                row["peak_memory_mib"] = peak()
                row["nvidia_smi"] = smi.between(start, time.perf_counter())
                report["throughput"].append(row)
                del model
        best = max(report["throughput"], key=lambda row: row["images_per_s"])
        model = load(runtime, spec, path, best["batch"], Precision(best["precision"]))
        images = [album[names[i % len(names)]] for i in range(count)]
        start = time.perf_counter()
        report["stages"] = {
            **stages_ceiling(model, images, cpu_threads),
            "max_batch": model.max_batch,
            "precision": best["precision"],
            "nvidia_smi": smi.between(start, time.perf_counter()),
        }
    report["seconds"] = round(time.perf_counter() - began, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gpu_check.md").write_text(markdown(report))
    sys.stdout.write(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
