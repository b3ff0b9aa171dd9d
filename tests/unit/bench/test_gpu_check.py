"""``bench/gpu_check.sh`` end to end in its reduced form: ONNX Runtime on the CPU in place of
PyTorch on CUDA, the bench's near-free model in place of ISNet, and no wheels to install
(this interpreter has every package already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.common.settings import REPO_ROOT


def test_the_gpu_check_runs_end_to_end_and_writes_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_WHEELS": str(tmp_path / "none")}
    command = [
        "bash",
        str(REPO_ROOT / "bench" / "gpu_check.sh"),
        "--runtime",
        "onnxruntime",
        "--reduced",
        "--null-model",
        "--seconds",
        "0.2",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((out / "gpu_check.json").read_text())
    assert report["runtime"] == "onnxruntime" and report["device"] == "cpu"
    assert report["model"] == "bench-null"
    # The runtime under test and the reference are the same here: identical masks.
    assert report["masks_iou"] and all(value == 1.0 for value in report["masks_iou"].values())
    assert [(row["precision"], row["batch"]) for row in report["throughput"]] == [
        ("fp32", 1),
        ("fp32", 2),
    ]
    assert all(row["images_per_s"] > 0 for row in report["throughput"])
    stages = report["stages"]
    assert stages["images"] == 4 and stages["images_per_s"] > 0
    assert 1 <= stages["mean_batch"] <= stages["max_batch"]

    table = (out / "gpu_check.md").read_text()
    assert "| fp32 | 2 |" in table
    assert "prepare → infer → finish" in table
    assert table in done.stdout


def test_the_gpu_check_refuses_a_model_file_that_is_not_the_registered_one(
    tmp_path: Path,
) -> None:
    impostor = tmp_path / "model.onnx"
    impostor.write_bytes(b"not the model")
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_WHEELS": str(tmp_path / "none")}
    command = ["bash", str(REPO_ROOT / "bench" / "gpu_check.sh"), "--model-file", str(impostor)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "is not the registry's" in done.stderr
