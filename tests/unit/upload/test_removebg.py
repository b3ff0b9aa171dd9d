"""remove.bg's parameters, the rendering of the answer, the error shape, the outcome
waiting and the SSRF address rule: pure logic, without the stack."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from schemas import Channels, ProcessingFailed, SizePreset
from services.upload.adapters.url_fetch import allowed_address
from services.upload.api.removebg_errors import translate
from services.upload.domain.errors import Rejected
from services.upload.domain.foreground import box_in_result, foreground_headers
from services.upload.domain.options import parse_crop_margin
from services.upload.domain.removebg import (
    AnswerFormat,
    credits_charged,
    parse_bg_color,
    parse_request,
)
from services.upload.domain.removebg_render import render
from services.upload.waiting import Busy, Outcomes


def cutout_png(size: tuple[int, int] = (40, 30)) -> bytes:
    rgba = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[10:20, 10:30, 3] = 255
    out = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(out, "PNG")
    return out.getvalue()


BOX = {"top": 10, "left": 10, "width": 20, "height": 10}


def test_parameters_map_to_upload_options_and_defaults_follow_remove_bg() -> None:
    request = parse_request({})
    assert request.options.size is SizePreset.PREVIEW and request.size == "preview"
    assert request.answer_format is AnswerFormat.AUTO and request.foreground_type == "auto"
    request = parse_request(
        {"size": "4K", "crop": "true", "crop_margin": "10px 5%", "channels": "alpha"}
    )
    assert request.options.size is SizePreset.FOUR_K
    assert request.options.crop and request.options.crop_margin == "10px 5% 10px 5%"
    assert request.options.channels is Channels.ALPHA
    # A margin without crop does nothing, as at remove.bg.
    assert parse_request({"crop_margin": "30px"}).options.crop_margin is None
    assert parse_request({"size": "50MP"}).options.size is SizePreset.FULL


@pytest.mark.parametrize(
    "fields",
    [
        {"size": "huge"},
        {"format": "webp"},
        {"channels": "rgb"},
        {"crop": "maybe"},
        {"crop": "true", "crop_margin": "600px"},
        {"crop": "true", "crop_margin": "51%"},
        {"scale": "5%"},
        {"position": "10% 20% 30%"},
        {"roi": "0 0 10 10"},
        {"roi": "0% 0% 150% 100%"},
        {"bg_color": "not-a-colour"},
        {"bg_image_url": "http://example.com/bg.jpg"},
        {"type": "spaceship"},
        {"format": "zip", "channels": "alpha"},
    ],
)
def test_invalid_values_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(Rejected):
        parse_request(fields)


def test_colours_hex_with_alpha_and_names() -> None:
    assert parse_bg_color("81d4fa") == (0x81, 0xD4, 0xFA, 255)
    assert parse_bg_color("#fff") == (255, 255, 255, 255)
    assert parse_bg_color("81d4fa77") == (0x81, 0xD4, 0xFA, 0x77)
    assert parse_bg_color("green") == (0, 128, 0, 255)
    assert parse_crop_margin("0px") is None


def test_auto_format_is_png_when_transparent_else_jpg() -> None:
    transparent = render(cutout_png(), BOX, parse_request({}))
    assert transparent.content_type == "image/png"
    flat = render(cutout_png(), BOX, parse_request({"bg_color": "ff0000"}))
    assert flat.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(flat.data))
    red, green, _ = image.convert("RGB").getpixel((0, 0))  # type: ignore[misc]
    assert red > 200 and green < 50  # the background is red
    half = render(cutout_png(), BOX, parse_request({"bg_color": "ff000080"}))
    assert half.content_type == "image/png"
    alpha = Image.open(io.BytesIO(half.data)).getchannel("A")
    assert alpha.getpixel((0, 0)) == 0x80 and alpha.getpixel((15, 15)) == 255


def test_zip_holds_colour_and_alpha() -> None:
    zipped = render(cutout_png(), BOX, parse_request({"format": "zip"}))
    assert zipped.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        alpha = Image.open(io.BytesIO(archive.read("alpha.png")))
        assert alpha.mode == "L" and alpha.size == (40, 30)


def test_scale_and_position_move_the_subject_and_its_box() -> None:
    placed = render(cutout_png(), BOX, parse_request({"scale": "50%", "position": "0% 100%"}))
    # The 20x10 subject scaled to half the 40x30 canvas (by width): 20x10, bottom left.
    assert placed.foreground == {"top": 20, "left": 0, "width": 20, "height": 10}
    alpha = np.asarray(Image.open(io.BytesIO(placed.data)).getchannel("A"))
    assert alpha[20:30, 0:20].min() == 255 and alpha[:20].max() == 0


def test_a_region_of_interest_removes_what_is_outside_before_crop_and_size() -> None:
    # The subject spans columns 10-29; the region keeps columns 20-39 only.
    request = parse_request(
        {"roi": "50% 0% 100% 100%", "crop": "true", "crop_margin": "2px", "size": "full"}
    )
    assert request.options.crop is None and request.options.size is None  # whole cut-out asked
    answered = render(cutout_png(), BOX, request)
    assert answered.foreground == {"top": 2, "left": 2, "width": 10, "height": 10}
    image = Image.open(io.BytesIO(answered.data))
    assert image.size == (14, 14)
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[2:12, 2:12].min() == 255 and alpha[:2].max() == 0
    assert parse_request({"roi": "0% 0% 100% 100%"}).roi is None


def test_the_box_follows_crop_and_size() -> None:
    box = {"top": 100, "left": 200, "width": 400, "height": 300}
    assert box_in_result(box, (1000, 800), (500, 400), None) == {
        "top": 50,
        "left": 100,
        "width": 200,
        "height": 150,
    }
    cropped = box_in_result(
        box, (1000, 800), (420, 320), {"crop": True, "crop_margin": "10px 10px 10px 10px"}
    )
    assert cropped == {"top": 10, "left": 10, "width": 400, "height": 300}
    assert foreground_headers(cropped)["X-Foreground-Left"] == "10"
    assert credits_charged(625, 400) == 0.25 and credits_charged(626, 400) == 1


def test_errors_become_remove_bg_shape_with_its_statuses() -> None:
    ours = json.dumps({"error": {"code": "unauthorized", "message": "no key", "details": {}}})
    status, body = translate(401, ours.encode()) or (0, b"")
    assert status == 403
    assert json.loads(body) == {
        "errors": [{"title": "Authentication failed", "code": "unauthorized", "detail": "no key"}]
    }
    for ours_status, theirs in ((413, 400), (415, 400), (422, 400), (429, 429), (402, 402)):
        translated = translate(ours_status, ours.encode())
        assert translated is not None and translated[0] == theirs
    assert translate(500, b"not json") is None


def test_private_targets_are_refused_unless_allowed() -> None:
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "0.0.0.0",
    ):
        assert not allowed_address(address, allow_private=False), address
    assert allowed_address("93.184.216.34", allow_private=False)
    assert allowed_address("127.0.0.1", allow_private=True)
    assert not allowed_address("0.0.0.0", allow_private=True)


def failed(task_id: str, retriable: bool) -> ProcessingFailed:
    return ProcessingFailed(
        event_id="7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b",
        image_id="img",
        owner="o",
        occurred_at=datetime.now(UTC),
        task_id=task_id,
        attempt=1,
        worker_id="w",
        reason="image_undecodable",
        message="bad",
        retriable=retriable,
    )


async def test_outcomes_before_and_after_the_waiter_and_the_bound() -> None:
    outcomes = Outcomes(max_waiting=1)
    outcomes.deliver(failed("early", retriable=False))
    assert (await outcomes.wait("early", 0.1)).task_id == "early"  # arrived first, kept
    waiting = asyncio.ensure_future(outcomes.wait("late", 5))
    await asyncio.sleep(0)
    outcomes.deliver(failed("late", retriable=True))  # a retry follows: not an outcome
    await asyncio.sleep(0.01)
    assert not waiting.done()
    outcomes.deliver(failed("late", retriable=False))
    assert (await waiting).task_id == "late"
    with pytest.raises(TimeoutError):
        await outcomes.wait("never", 0.01)
    with outcomes.slot(), pytest.raises(Busy), outcomes.slot():
        pass
    with outcomes.slot():  # released again
        pass


async def test_the_fetcher_never_contacts_a_loopback_server_unless_allowed() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from services.upload.adapters.url_fetch import UrlFetcher
    from services.upload.domain.errors import ErrorCode

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"x" * 2000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/photo.jpg"
    try:
        strict = UrlFetcher(allow_private=False, timeout=5, max_bytes=10_000)
        with pytest.raises(Rejected) as refused:
            await strict.fetch(url)
        assert refused.value.code is ErrorCode.IMAGE_URL_REFUSED and hits == []
        with pytest.raises(Rejected) as scheme:
            await strict.fetch("file:///etc/passwd")
        assert scheme.value.code is ErrorCode.IMAGE_URL_REFUSED
        allowed = UrlFetcher(allow_private=True, timeout=5, max_bytes=10_000)
        assert await allowed.fetch(url) == b"x" * 2000 and hits == ["/photo.jpg"]
        small = UrlFetcher(allow_private=True, timeout=5, max_bytes=1000)
        with pytest.raises(Rejected) as large:
            await small.fetch(url)
        assert large.value.code is ErrorCode.BODY_TOO_LARGE
    finally:
        server.shutdown()
        server.server_close()


async def test_outcomes_are_kept_for_a_while_and_only_so_many() -> None:
    now = [0.0]
    outcomes = Outcomes(max_waiting=1, keep_seconds=10, keep_max=2, timer=lambda: now[0])
    for task in ("a", "b", "c"):
        outcomes.deliver(failed(task, retriable=False))
    with pytest.raises(TimeoutError):  # the oldest gave way to the bound
        await outcomes.wait("a", 0.01)
    assert (await outcomes.wait("c", 0.01)).task_id == "c"
    now[0] = 11.0
    with pytest.raises(TimeoutError):  # kept no longer than keep_seconds
        await outcomes.wait("c", 0.01)
