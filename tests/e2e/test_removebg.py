"""remove.bg's protocol end to end: the requests its public client libraries send (a
multipart `image_file` with `size` and `bg_color`, a URL-encoded `image_file_b64`, an
`image_url` from a local server, `format=zip`, `channels=alpha`, `crop=true`), their bytes,
sizes, headers and error bodies, against the upload API, the projector and a real processor
as processes on topics of their own; the facade's mask against the asynchronous path's."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from services.common.settings import CommonSettings
from services.common.shaping import fit_to_pixels
from tests.e2e.processes import new_api_key
from tests.e2e.removebg_stack import RemoveBgDeployment, photo, removebg_deployment

pytestmark = pytest.mark.timeout(900)
SYNC_TIMEOUT = 180.0


@pytest.fixture(scope="module")
async def deployment(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RemoveBgDeployment]:
    async with removebg_deployment(stack, tmp_path_factory.mktemp("removebg")) as deployed:
        yield deployed


def key_header(deployment: RemoveBgDeployment) -> dict[str, str]:
    return {"X-Api-Key": deployment.key}


async def post(
    deployment: RemoveBgDeployment,
    *,
    files: dict[str, Any] | None = None,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=SYNC_TIMEOUT) as client:
        return await client.post(
            f"{deployment.api}/v1.0/removebg",
            files=files,
            data=data,
            headers={**key_header(deployment), **(headers or {})},
        )


def opened(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def box_of(response: httpx.Response) -> tuple[int, int, int, int]:
    h = response.headers
    return (
        int(h["X-Foreground-Top"]),
        int(h["X-Foreground-Left"]),
        int(h["X-Foreground-Width"]),
        int(h["X-Foreground-Height"]),
    )


def assert_errors(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    error: dict[str, Any] = body["errors"][0]
    assert error["code"] == code and error["title"] and error["detail"]
    return error


async def test_multipart_image_file_with_size_and_bg_color(
    deployment: RemoveBgDeployment,
) -> None:
    original = photo()
    response = await post(
        deployment,
        files={"image_file": ("astronaut.jpg", original, "image/jpeg")},
        data={"size": "preview", "bg_color": "81d4fa", "type": "person"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"  # opaque, format=auto
    image = opened(response.content)
    expected = fit_to_pixels((512, 512), 250_000)
    assert image.size == expected
    assert (int(response.headers["X-Width"]), int(response.headers["X-Height"])) == expected
    assert response.headers["X-Type"] == "person"
    assert float(response.headers["X-Credits-Charged"]) == 0.25
    top, left, width, height = box_of(response)
    assert 0 <= left < left + width <= expected[0] and 0 <= top < top + height <= expected[1]
    assert width * height < expected[0] * expected[1]  # the subject is not the whole photo
    pixels = np.asarray(image.convert("RGB")).astype(int)
    near_bg = (np.abs(pixels - (0x81, 0xD4, 0xFA)).sum(axis=2) < 30).mean()
    assert near_bg > 0.1, near_bg  # the background became the colour
    # An ordinary image of the key's owner, in its history with the requested options.
    image_id = response.headers["X-Image-Id"]
    async with httpx.AsyncClient(timeout=30) as client:
        status = await client.get(
            f"{deployment.api}/v1/images/{image_id}",
            headers={"Authorization": f"Bearer {deployment.key}"},
        )
    assert status.status_code == 200, status.text
    task = status.json()["current_task"]
    assert status.json()["status"] == "completed"
    assert task["options"]["size"] == "preview"
    fg = task["foreground"]
    assert fg is not None and fg["width"] > 0 and fg["height"] > 0


async def test_urlencoded_image_file_b64_full_size_png(deployment: RemoveBgDeployment) -> None:
    encoded = base64.b64encode(photo()).decode()
    response = await post(
        deployment, data={"image_file_b64": encoded, "size": "full", "format": "png"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = opened(response.content)
    assert image.mode == "RGBA" and image.size == (512, 512)
    assert float(response.headers["X-Credits-Charged"]) == 1
    alpha = np.asarray(image.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255


async def test_image_url_through_a_redirect_answered_as_json(
    deployment: RemoveBgDeployment,
) -> None:
    path = f"/{uuid.uuid4().hex}.jpg"
    deployment.photos.files[path] = photo()
    response = await post(
        deployment,
        data={"image_url": deployment.photos.url(f"/redirect?to={path}"), "size": "medium"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    image = opened(base64.b64decode(data["result_b64"]))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (512, 512)
    assert (data["foreground_top"], data["foreground_left"]) == box_of(response)[:2]
    assert data["foreground_width"] > 0 and data["foreground_height"] > 0
    missing = await post(deployment, data={"image_url": deployment.photos.url("/nothing.jpg")})
    assert_errors(missing, 400, "image_url_failed")


async def test_format_zip_holds_color_jpg_and_alpha_png(deployment: RemoveBgDeployment) -> None:
    response = await post(
        deployment,
        files={"image_file": ("a.jpg", photo(), "image/jpeg")},
        data={"format": "zip", "size": "full"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        color = opened(archive.read("color.jpg"))
        alpha = opened(archive.read("alpha.png"))
    assert color.format == "JPEG" and color.mode == "RGB" and color.size == (512, 512)
    assert alpha.format == "PNG" and alpha.mode == "L" and alpha.size == (512, 512)


async def test_crop_with_a_margin_frames_the_subject(deployment: RemoveBgDeployment) -> None:
    response = await post(
        deployment,
        files={"image_file": ("a.jpg", photo(), "image/jpeg")},
        data={"crop": "true", "crop_margin": "10px", "size": "full", "format": "png"},
    )
    assert response.status_code == 200, response.text
    image = opened(response.content)
    top, left, width, height = box_of(response)
    assert (top, left) == (10, 10)
    assert image.size == (width + 20, height + 20)
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[:10].max() < 128 and alpha[:, :10].max() < 128  # the margin holds no subject
    assert alpha[10 : 10 + height, 10 : 10 + width].max() == 255


async def test_a_region_of_interest_leaves_nothing_outside_it(
    deployment: RemoveBgDeployment,
) -> None:
    response = await post(
        deployment,
        files={"image_file": ("a.jpg", photo(), "image/jpeg")},
        data={"roi": "0% 0% 50% 100%", "size": "full", "format": "png"},
    )
    assert response.status_code == 200, response.text
    image = opened(response.content)
    assert image.size == (512, 512)
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[:, 256:].max() == 0 and alpha[:, :256].max() == 255
    top, left, width, height = box_of(response)
    assert left + width <= 256 and top + height <= 512


async def test_channels_alpha_is_the_mask_of_the_asynchronous_path(
    deployment: RemoveBgDeployment,
) -> None:
    original = photo()
    response = await post(
        deployment,
        files={"image_file": ("a.jpg", original, "image/jpeg")},
        data={"channels": "alpha", "size": "full"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    facade = opened(response.content)
    assert facade.mode == "L" and facade.size == (512, 512)
    bearer = {"Authorization": f"Bearer {deployment.key}"}
    async with httpx.AsyncClient(timeout=30) as client:
        accepted = await client.post(
            f"{deployment.api}/v1/images",
            content=original,
            headers={**bearer, "Content-Type": "image/jpeg"},
        )
        assert accepted.status_code == 202, accepted.text
        image_id = accepted.json()["id"]
        deadline = time.monotonic() + SYNC_TIMEOUT
        while True:
            mask = await client.get(
                f"{deployment.api}/v1/images/{image_id}/result?kind=mask", headers=bearer
            )
            if mask.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
    assert mask.status_code == 200, mask.text
    assert np.array_equal(np.asarray(opened(mask.content)), np.asarray(facade))


async def test_errors_in_remove_bg_shape_and_nothing_stored(
    deployment: RemoveBgDeployment,
) -> None:
    bearer = {"Authorization": f"Bearer {deployment.key}"}
    async with httpx.AsyncClient(timeout=30) as client:
        before = await client.get(f"{deployment.api}/v1/usage", headers=bearer)
        no_key = await client.post(
            f"{deployment.api}/v1.0/removebg", data={"image_url": "http://x/y.jpg"}
        )
        account = await client.get(f"{deployment.api}/v1.0/account", headers=bearer)
    assert_errors(no_key, 403, "unauthorized")
    assert account.status_code == 200
    assert account.json()["data"]["attributes"]["api"]["sizes"] == "all"
    jpeg = photo()
    bad_size = await post(
        deployment, files={"image_file": ("a.jpg", jpeg, "image/jpeg")}, data={"size": "huge"}
    )
    assert "size" in assert_errors(bad_size, 400, "invalid_option")["detail"]
    two = await post(
        deployment,
        files={"image_file": ("a.jpg", jpeg, "image/jpeg")},
        data={"image_url": deployment.photos.url("/x.jpg")},
    )
    assert_errors(two, 400, "invalid_option")
    none = await post(deployment, data={"size": "preview"})
    assert_errors(none, 400, "missing_file")
    text = await post(deployment, files={"image_file": ("a.jpg", b"hello, world", "image/jpeg")})
    assert_errors(text, 400, "unsupported_media_type")
    bad_b64 = await post(deployment, data={"image_file_b64": "%%%not base64%%%"})
    assert_errors(bad_b64, 400, "invalid_option")
    # A JSON body, as some clients send image_file_b64; unknown members are ignored.
    async with httpx.AsyncClient(timeout=SYNC_TIMEOUT) as client:
        unknown_ok = await client.post(
            f"{deployment.api}/v1.0/removebg",
            json={
                "image_file_b64": base64.b64encode(jpeg).decode(),
                "no_such_parameter": 1,
                "size": "preview",
                "crop": False,
                "roi": "0% 0% 100% 100%",
            },
            headers=key_header(deployment),
        )
    assert unknown_ok.status_code == 200, unknown_ok.text
    assert unknown_ok.headers["content-type"] == "image/png"
    # Of all these requests only the valid one was uploaded: the owner's count of uploads
    # (deleted ones included) grows by exactly one once the projector has applied it.
    expected = before.json()["total"]["uploaded"] + 1
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            after = (await client.get(f"{deployment.api}/v1/usage", headers=bearer)).json()
            if after["total"]["uploaded"] >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)  # room for a wrongly stored one to show up as well
        after = (await client.get(f"{deployment.api}/v1/usage", headers=bearer)).json()
    assert after["total"]["uploaded"] == expected, after
    async with httpx.AsyncClient(timeout=30) as client:
        metrics = (await client.get(f"{deployment.api}/metrics")).text
    assert 'clearcut_removebg_requests_total{outcome="completed"}' in metrics
    assert 'clearcut_removebg_requests_total{outcome="invalid_option"}' in metrics
    assert "clearcut_removebg_waiting 0.0" in metrics


async def test_a_request_past_the_timeout_gets_504_and_its_image_is_deleted(
    deployment: RemoveBgDeployment, stack: CommonSettings
) -> None:
    owner = f"removebg-timeout-{uuid.uuid4().hex[:8]}"
    key = await new_api_key(stack, owner)
    impatient = deployment.services.another(
        "upload", {"CLEARCUT_UPLOAD_REMOVEBG_TIMEOUT_SECONDS": "0.05"}
    )
    impatient.start()
    try:
        await impatient.wait_ready()
        api = f"http://127.0.0.1:{impatient.env['CLEARCUT_UPLOAD_PORT']}"
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(
                f"{api}/v1.0/removebg",
                files={"image_file": ("a.jpg", photo(), "image/jpeg")},
                headers={"X-Api-Key": key},
            )
            assert_errors(response, 504, "processing_timeout")
            bearer = {"Authorization": f"Bearer {key}"}
            deadline = time.monotonic() + 60
            while True:
                usage = (await client.get(f"{api}/v1/usage", headers=bearer)).json()
                listed = (await client.get(f"{api}/v1/images", headers=bearer)).json()
                if usage["total"]["uploaded"] == 1 and not listed["items"]:
                    break  # uploaded, then deleted: nothing of it is served
                assert time.monotonic() < deadline, (usage, listed)
                await asyncio.sleep(0.3)
    finally:
        impatient.stop()
