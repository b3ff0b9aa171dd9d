"""End-to-end fixtures: the whole pipeline started by `clearcut up`, reached only through
HTTP, the websocket and the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from services.common.auth import AuthSettings
from services.common.settings import CommonSettings
from services.notifier.settings import NotifierSettings
from services.upload.settings import UploadSettings


def clearcut(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Pipeline:
    api: str
    ws: str
    key: str
    jaeger: str


@pytest.fixture(scope="session")
def pipeline(stack: CommonSettings) -> Iterator[Pipeline]:
    started = clearcut("up")
    assert started.returncode == 0, started.stdout + started.stderr
    upload, notifier = UploadSettings(), NotifierSettings()
    yield Pipeline(
        api=f"http://{upload.host}:{upload.port}",
        ws=f"ws://{notifier.host}:{notifier.port}/v1/ws",
        key=AuthSettings().dev_key.get_secret_value(),
        jaeger=stack.telemetry.query_url,
    )
    clearcut("down", "--keep-stack", timeout=120)


def jpeg(pixels: np.ndarray, *, orientation: int | None = None) -> bytes:
    image = Image.fromarray(pixels)
    out = io.BytesIO()
    if orientation is None:
        image.save(out, "JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def _fresh(pixels: np.ndarray) -> np.ndarray:
    """The photo with a random corner, so its bytes are new and the processor's content
    cache cannot answer for it: every run does real inference."""
    out = pixels.copy()
    out[:4, :4] = np.random.default_rng().integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    return out


def sample_photos() -> dict[str, tuple[bytes, tuple[int, int]]]:
    """Five photos and the (width, height) their cut-outs must have (after EXIF orientation)."""
    astronaut = _fresh(data.astronaut()[::2, ::2])  # type: ignore[no-untyped-call]  # 256x256
    coffee = _fresh(data.coffee()[::2, ::2])  # type: ignore[no-untyped-call]  # 300x200
    chelsea = _fresh(data.chelsea())  # type: ignore[no-untyped-call]  # 451x300
    rocket = _fresh(data.rocket()[::2, ::2])  # type: ignore[no-untyped-call]  # 214x213
    h, w = coffee.shape[:2]
    return {
        "astronaut.jpg": (jpeg(astronaut), (astronaut.shape[1], astronaut.shape[0])),
        "coffee.jpg": (jpeg(coffee), (w, h)),
        # Orientation 6: stored landscape, shown rotated 90 degrees, so portrait.
        "coffee-rotated.jpg": (jpeg(coffee, orientation=6), (h, w)),
        "chelsea.png": (_png(chelsea), (chelsea.shape[1], chelsea.shape[0])),
        "rocket.jpg": (jpeg(rocket), (rocket.shape[1], rocket.shape[0])),
    }


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def write_photos(folder: Path) -> dict[str, Path]:
    paths = {}
    for name, (body, _) in sample_photos().items():
        path = folder / name
        path.write_bytes(body)
        paths[name] = path
    return paths
