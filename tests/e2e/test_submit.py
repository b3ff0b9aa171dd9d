"""`clearcut submit` and `clearcut fetch` as a user runs them, against every service as a
real process on topics of this module, with the bench's near-free model so images finish in
moments: unique result names, no silent overwrite, full ids, a timeout that is not a failure,
skipped files named, results fetched later by id."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from bench.nullmodel import write_null_model
from services.common.settings import CommonSettings
from tests.e2e.processes import ServiceProcess, new_api_key, running, services_for

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Deployment:
    api: str
    ws: str
    key: str
    processor: ServiceProcess

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            env={
                **os.environ,
                "CLEARCUT_API_URL": self.api,
                "CLEARCUT_WS_URL": self.ws,
                "CLEARCUT_API_KEY": self.key,
                "COLUMNS": "250",
            },
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @contextmanager
    def processor_paused(self) -> Iterator[None]:
        """The worker frozen (SIGSTOP): uploads queue up until it resumes."""
        assert self.processor.process is not None
        self.processor.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.processor.process.send_signal(signal.SIGCONT)


def photo(fmt: str = "JPEG") -> bytes:
    """A small photo with new bytes each time, so no earlier result answers for it."""
    pixels = np.random.default_rng().integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


@pytest.fixture(scope="module")
async def deployment(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    null = write_null_model(tmp_path_factory.mktemp("null-model"))
    services = await services_for(
        stack,
        "submit",
        tmp_path_factory.mktemp("submit"),
        processor={
            "CLEARCUT_PROCESSOR_REGISTRY_FILE": str(null.registry),
            "CLEARCUT_PROCESSOR_SESSION_TIMEOUT_S": "30",
        },
    )
    key = await new_api_key(stack, f"submit-{services.unique}")
    async with running(services):
        yield Deployment(services.api, services.ws, key, services["processor"])


def test_same_stems_in_a_folder_get_a_result_each_and_skipped_entries_are_named(
    deployment: Deployment, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    (photos / "nested").mkdir(parents=True)
    (photos / "photo.jpg").write_bytes(photo("JPEG"))
    (photos / "photo.png").write_bytes(photo("PNG"))
    (photos / "notes.txt").write_text("not a photo")
    (photos / "nested" / "deep.jpg").write_bytes(photo())
    out = tmp_path / "out"

    done = deployment.cli("submit", str(photos), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["photo.jpg.cutout.png", "photo.png.cutout.png"]
    assert f"skipped  {photos / 'notes.txt'}: not an image file name" in done.stdout
    assert f"skipped  {photos / 'nested'}: a folder inside a folder" in done.stdout
    assert "2 submitted, 2 completed, 0 failed, 2 skipped." in done.stdout
    ids = set(UUID.findall(done.stdout))
    assert len(ids) == 2, done.stdout
    for image_id in ids:
        assert f"id {image_id}" in done.stdout
        status = httpx.get(
            f"{deployment.api}/v1/images/{image_id}",
            headers={"Authorization": f"Bearer {deployment.key}"},
        )
        assert status.status_code == 200 and status.json()["status"] == "completed"
    for result in out.iterdir():
        assert Image.open(result).mode == "RGBA"

    # A second run into the same folder refuses before uploading anything.
    before = {p: p.read_bytes() for p in out.iterdir()}
    again = deployment.cli("submit", str(photos), "--out", str(out))
    assert again.returncode == 2, again.stdout
    assert f"{out / 'photo.jpg.cutout.png'} exists" in again.stdout
    assert "--overwrite" in again.stdout
    assert not UUID.search(again.stdout), "nothing may be uploaded"
    assert {p: p.read_bytes() for p in out.iterdir()} == before

    (photos / "photo.jpg").write_bytes(photo())  # another photo under the same name
    replaced = deployment.cli("submit", str(photos / "photo.jpg"), "--out", str(out), "--overwrite")
    assert replaced.returncode == 0, replaced.stdout
    assert (out / "photo.jpg.cutout.png").read_bytes() != before[out / "photo.jpg.cutout.png"]


def test_inputs_that_would_share_a_name_are_refused_before_uploading(
    deployment: Deployment, tmp_path: Path
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "photo.jpg").write_bytes(photo())
    args = ["submit", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out")]
    refused = deployment.cli(*args)
    assert refused.returncode == 2, refused.stdout
    assert "would all be saved as" in refused.stdout and "--name" in refused.stdout
    named = deployment.cli(*args, "--name", "{parent}-{name}.cutout.{format}")
    assert named.returncode == 0, named.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a-photo.jpg.cutout.png",
        "b-photo.jpg.cutout.png",
    ]


def test_a_timeout_is_still_processing_not_failed_and_fetch_gets_the_result_later(
    deployment: Deployment, tmp_path: Path
) -> None:
    image = tmp_path / "x.jpg"
    image.write_bytes(photo())
    out = tmp_path / "t"
    with deployment.processor_paused():
        done = deployment.cli("submit", str(image), "--out", str(out), "--timeout", "0.3")
        assert done.returncode == 3, done.stdout + done.stderr
        assert "failed" not in done.stdout.replace("0 failed", "")
        (image_id,) = set(UUID.findall(done.stdout))
        assert "1 still processing" in done.stdout
        assert "still processing after 0.3 s" in done.stdout
        assert f"clearcut fetch {image_id} --out {out}" in done.stdout
        early = deployment.cli("fetch", image_id, "--out", str(out))
        assert early.returncode == 3, early.stdout
        assert "still queued" in early.stdout
    for _ in range(100):
        fetched = deployment.cli("fetch", image_id, "--out", str(out))
        if fetched.returncode != 3:
            break
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    saved = out / f"{image_id}.cutout.png"
    assert f"saved      {image_id} -> {saved}" in fetched.stdout
    assert Image.open(saved).mode == "RGBA"
    again = deployment.cli("fetch", image_id, "--out", str(out))
    assert again.returncode == 1 and "exists (--overwrite replaces it)" in again.stdout

    unknown = deployment.cli("fetch", image_id[:8], "--out", str(out))
    assert unknown.returncode == 1 and "no image of yours has this id" in unknown.stdout


def test_no_wait_is_honoured_and_no_out_prints_where_the_result_is(
    deployment: Deployment, tmp_path: Path
) -> None:
    image = tmp_path / "y.jpg"
    image.write_bytes(photo())
    quick = deployment.cli("submit", str(image), "--no-wait", "--out", str(tmp_path / "o"))
    assert quick.returncode == 0, quick.stdout
    (image_id,) = set(UUID.findall(quick.stdout))
    assert "--no-wait uploads only" in quick.stdout
    assert f"status {deployment.api}/v1/images/{image_id}" in quick.stdout
    assert not (tmp_path / "o").exists()

    kept = deployment.cli("submit", str(image))
    assert kept.returncode == 0, kept.stdout
    (image_id,) = set(UUID.findall(kept.stdout))
    assert f"result {deployment.api}/v1/images/{image_id}/result?kind=cutout" in kept.stdout
    assert "1 submitted, 1 completed, 0 failed." in kept.stdout


@pytest.mark.parametrize("value", ["-5", "0"])
def test_a_timeout_that_is_not_positive_is_refused(
    deployment: Deployment, tmp_path: Path, value: str
) -> None:
    image = tmp_path / "z.jpg"
    image.write_bytes(photo())
    done = deployment.cli("submit", str(image), "--timeout", value)
    assert done.returncode == 2
    assert "must be more than 0 seconds" in done.stdout + done.stderr
