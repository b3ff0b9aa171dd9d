"""The web page in a real browser (Debian's Chromium, driven by Playwright) against the real
pipeline: every service a process on topics of this module, a real processor running the
default model. A person's path through the page: the key, two photos and a file that is no
image dropped at once, live progress, the error, the compare slider by keyboard, the
downloads (one cut-out, the ZIP), a notifier that goes away and comes back, a narrow
screen, signing out. Screenshots of the main states are written to
`CLEARCUT_SCREENSHOT_DIR` (default: a temporary folder, printed)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.async_api import (
    Browser,
    FilePayload,
    Locator,
    Page,
    async_playwright,
    expect,
)
from skimage import data

from services.common.auth import AuthSettings
from services.common.settings import CommonSettings
from services.devstack.system import TEST_TOOLS
from tests.e2e.processes import Services, free_port, new_api_key, running, services_for

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.timeout(900)
LIVE = 240_000  # ms: waits that include real inference on a shared 2-core machine


class Gate:
    """A TCP forwarder in front of the object store, for the upload API only: closing it
    makes the store unreachable for the API (connections refused, open ones cut) while the
    rest of the pipeline goes on using the store directly."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.close()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()
                self.writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@dataclass
class Deployment:
    api: str
    ws_origin: str
    key: str
    services: Services
    shots: Path
    store_gate: Gate


def photo(pixels: np.ndarray, orientation: int | None = None) -> bytes:
    """JPEG of ``pixels`` with a random corner: new bytes, so every run does real inference;
    with an EXIF ``orientation`` if given."""
    out = pixels.copy()
    out[:4, :4] = np.random.default_rng().integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.fromarray(out).save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def assert_png_with_alpha(body: bytes) -> Image.Image:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(body))
    image.load()
    assert image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert alpha.min() < 128 < alpha.max()  # both background cut away and subject kept
    return image


def check_chromium() -> None:
    assert "chromium" in TEST_TOOLS.values()
    assert Path(CHROMIUM).exists(), "run `clearcut stack install --test-tools` first"


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shots = Path(os.environ.get("CLEARCUT_SCREENSHOT_DIR") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture(scope="module")
async def deployment(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    check_chromium()
    shots = screenshot_dir(tmp_path_factory)
    gate = Gate(stack.s3.port)
    await gate.open()
    logs = tmp_path_factory.mktemp("page-services")
    services = await services_for(
        stack,
        "page",
        logs,
        upload={"CLEARCUT_UPLOAD_RETRY_AFTER_SECONDS": "2", "CLEARCUT_S3_PORT": str(gate.port)},
    )
    services["upload"].env["CLEARCUT_UPLOAD_WEBSOCKET_URL"] = services.ws
    key = await new_api_key(stack, f"page-{services.unique}")
    try:
        async with running(services):
            yield Deployment(
                services.api, f"ws://127.0.0.1:{services.notifier_port}", key, services, shots, gate
            )
    finally:
        await gate.close()
    print(f"screenshots in {shots}")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            await browser.close()


async def drop_files(page: Page, files: list[tuple[str, str, bytes]]) -> None:
    """Drops ``(name, type, bytes)`` files on the drop zone, as a person dragging them."""
    payload = [
        {"name": n, "type": t, "data": base64.b64encode(b).decode("ascii")} for n, t, b in files
    ]
    transfer = await page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, { type: f.type }));
            }
            return dt;
        }""",
        payload,
    )
    await page.dispatch_event("#drop-zone", "dragenter", {"dataTransfer": transfer})
    await page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def pushed(frame: str | bytes) -> list[tuple[str, str]]:
    """``("completed", image id)`` for each completion a websocket message tells of."""
    message = json.loads(frame)
    if message.get("type") == "event" and message["event"]["type"].endswith(".completed.v1"):
        return [("completed", message["image_id"])]
    if message.get("type") == "snapshot":
        images = message["images"]
        return [("completed", i["image_id"]) for i in images if i["status"] == "completed"]
    return []


def status_read(url: str) -> list[tuple[str, str]]:
    found = re.search(r"/v1/images/([0-9a-f-]{36})$", url)
    return [("read", found.group(1))] if found else []


async def reach(card: Locator, state: str, within_ms: float = LIVE) -> None:
    """Waits for the card's state; a failure says what the card shows."""
    try:
        await expect(card).to_have_attribute("data-state", state, timeout=within_ms)
    except AssertionError as exc:
        shown = " | ".join((await card.inner_text()).split("\n"))
        raise AssertionError(f"card not {state}: {shown}") from exc


async def poll(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within} s: {what}")


RECORD_STATES = """() => {
    window.cardStates = {};
    const seen = (card) => {
        const name = card.querySelector("h3").textContent;
        const states = (window.cardStates[name] ||= []);
        if (states.at(-1) !== card.dataset.state) states.push(card.dataset.state);
    };
    new MutationObserver((changes) => {
        for (const change of changes) {
            if (change.target.classList?.contains("card")) seen(change.target);
            for (const node of change.addedNodes || []) {
                if (node.classList?.contains("card")) seen(node);
            }
        }
    }).observe(document.body, {subtree: true, childList: true, attributes: true,
                               attributeFilter: ["data-state"]});
}"""


async def test_a_person_removes_backgrounds_in_the_browser(
    deployment: Deployment, browser: Browser
) -> None:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    # In the order the browser saw them: completions pushed over the websocket, and reads of
    # an image's status.
    seen: list[tuple[str, str]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: seen.extend(pushed(f))))
    page.on("request", lambda r: seen.extend(status_read(r.url)))
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    shots = deployment.shots

    # The key: the development key is offered, the person enters theirs.
    await page.goto(deployment.api + "/")
    key_input = page.get_by_role("textbox", name="API key")
    await expect(key_input).to_be_focused()
    assert await key_input.input_value() == AuthSettings().dev_key.get_secret_value()
    await page.screenshot(path=shots / "key.png")
    await key_input.fill(deployment.key)
    await key_input.press("Enter")
    await expect(page.locator("#connection")).to_have_text("Live", timeout=30_000)
    assert await page.evaluate("localStorage.getItem('clearcut.apiKey')") == deployment.key
    assert deployment.key not in page.url
    await expect(page.get_by_role("button", name="Choose photos…")).to_be_focused()
    await page.screenshot(path=shots / "empty.png")

    # Two photos and a file that is not an image, dropped at once: a card for each at once.
    await page.evaluate(RECORD_STATES)
    astronaut = photo(data.astronaut()[::2, ::2])  # type: ignore[no-untyped-call]
    # Stored 300 x 200, EXIF orientation 6: shown (and cut out) 200 x 300, portrait.
    coffee = photo(data.coffee()[::2, ::2], orientation=6)  # type: ignore[no-untyped-call]
    await drop_files(
        page,
        [
            ("astronaut.jpg", "image/jpeg", astronaut),
            ("coffee.jpg", "image/jpeg", coffee),
            ("notes.txt", "text/plain", b"shopping list: milk, eggs\n" * 20),
        ],
    )
    cards = page.locator("#cards .card")
    await expect(cards).to_have_count(3)
    await expect(cards.locator(".status")).to_have_text(["Ready", "Ready", "Ready"])
    previews = page.locator("#cards .card img.before")
    sizes = "img => img.complete ? [img.naturalWidth, img.naturalHeight] : null"
    loaded = "imgs => imgs.slice(0, 2).every((img) => img.complete && img.naturalWidth > 0)"
    await poll(lambda: previews.evaluate_all(loaded), 10, "the previews of both photos")
    assert await previews.nth(0).evaluate(sizes) == [256, 256]
    assert await previews.nth(1).evaluate(sizes) == [200, 300]  # EXIF orientation applied
    start = page.get_by_role("button", name="Remove backgrounds (3 photos)")
    await start.click()

    astronaut_card = page.locator("#cards .card").nth(0)
    coffee_card = page.locator("#cards .card").nth(1)
    notes_card = page.locator("#cards .card").nth(2)
    await reach(notes_card, "rejected", 30_000)
    await expect(notes_card.locator(".status")).to_have_text(
        "This is not a photo Clearcut can read."
    )
    await expect(notes_card.locator(".detail")).to_have_text(
        "Choose a JPEG, PNG, WebP, GIF or TIFF image."
    )
    await page.evaluate("window.scrollTo(0, 0)")  # a sticky header stays on top
    await page.screenshot(path=shots / "in-progress.png", full_page=True)

    for done in (astronaut_card, coffee_card):
        await reach(done, "completed", LIVE)
        await expect(done.locator(".detail")).to_have_text(
            re.compile(r"^Processed in \d+\.\d s\.$"), timeout=5_000
        )
    await reach(notes_card, "rejected", 5_000)
    states = await page.evaluate("window.cardStates")
    for name in ("astronaut.jpg", "coffee.jpg"):
        assert states[name][:3] == ["ready", "uploading", "queued"], states
        assert states[name][-1] == "completed", states
    assert states["notes.txt"] == ["ready", "uploading", "rejected"], states
    # Followed over the websocket, not polled: an image's status is read only after its
    # completion was pushed.
    completed: set[str] = set()
    for what, image_id in seen:
        if what == "completed":
            completed.add(image_id)
        else:
            assert image_id in completed, seen
    assert len(completed) == 2
    await page.evaluate("window.scrollTo(0, 0)")  # a sticky header stays on top
    await page.screenshot(path=shots / "results.png", full_page=True)

    # The compare slider, by keyboard.
    slider = astronaut_card.get_by_role("slider", name="Compare original and cut-out")
    compare = astronaut_card.locator(".compare")
    await slider.focus()
    await page.keyboard.press("Home")
    assert await slider.input_value() == "0"
    assert (await compare.evaluate("e => e.style.getPropertyValue('--pos')")) == "0%"
    for _ in range(5):
        await page.keyboard.press("ArrowRight")
    assert await slider.input_value() == "5"
    await page.keyboard.press("End")
    assert (await compare.evaluate("e => e.style.getPropertyValue('--pos')")) == "100%"
    await page.keyboard.press("PageDown")
    assert int(await slider.input_value()) < 100

    # One result, then everything as a ZIP: valid PNGs with alpha.
    async with page.expect_download() as one:
        await astronaut_card.get_by_role("button", name="Download cut-out").click()
    downloaded = await one.value
    assert downloaded.suggested_filename == "astronaut-cutout.png"
    cutout = assert_png_with_alpha(read_bytes(await downloaded.path()))
    assert cutout.size == (256, 256)

    async with page.expect_download() as everything:
        await page.get_by_role("button", name="Download all (ZIP)").click()
    archive = await everything.value
    assert archive.suggested_filename == "clearcut-results.zip"
    with zipfile.ZipFile(Path(await archive.path())) as zipped:
        names = sorted(zipped.namelist())
        assert names == [
            "astronaut-cutout.png",
            "astronaut-mask.png",
            "coffee-cutout.png",
            "coffee-mask.png",
        ]
        assert assert_png_with_alpha(zipped.read("coffee-cutout.png")).size == (200, 300)
        assert zipped.read("coffee-mask.png")[:8] == b"\x89PNG\r\n\x1a\n"

    # A photo chosen with the file button, by keyboard, as WebP on a yellow background,
    # while the object store cannot be reached: the API answers 503 with Retry-After, the
    # page says so and tries again by itself once that time has passed, until the store is
    # back.
    await deployment.store_gate.close()
    rocket = photo(data.rocket()[::2, ::2])  # type: ignore[no-untyped-call]
    choose = page.get_by_role("button", name="Choose photos…")
    await choose.focus()
    await expect(choose).to_be_focused()
    async with page.expect_file_chooser() as chooser:
        await choose.press("Enter")
    chosen: FilePayload = {"name": "rocket.jpg", "mimeType": "image/jpeg", "buffer": rocket}
    await (await chooser.value).set_files(chosen)
    await page.get_by_label("Output format").select_option("webp")
    await page.get_by_label("Colour", exact=True).check()
    await page.get_by_label("Background colour").fill("#ffcc00")
    await page.get_by_role("button", name="Remove backgrounds", exact=True).focus()
    await page.keyboard.press("Enter")
    rocket_card = page.locator("#cards .card").nth(3)
    await reach(rocket_card, "waiting", 60_000)
    await expect(rocket_card.locator(".status")).to_have_text("Clearcut is busy or restarting.")
    await expect(rocket_card.locator(".detail")).to_contain_text("Next try in 2 s.")
    await rocket_card.scroll_into_view_if_needed()
    await page.screenshot(path=shots / "retrying.png")
    await asyncio.sleep(3)  # at least one automatic retry while the store is still away
    await deployment.store_gate.open()
    await reach(rocket_card, "completed", LIVE)
    uploads = [u for u in requests if u.endswith("/v1/images")]
    assert len(uploads) >= 3 + 2, uploads  # three at first, the rocket at least twice
    async with page.expect_download() as one:
        await rocket_card.get_by_role("button", name="Download cut-out").click()
    downloaded = await one.value
    assert downloaded.suggested_filename == "rocket-cutout.webp"
    body = read_bytes(await downloaded.path())
    assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
    pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA")).reshape(-1, 4)
    assert pixels[:, 3].min() == 255  # a background colour leaves nothing transparent
    yellow = (np.abs(pixels[:, :3].astype(int) - (255, 204, 0)).max(axis=1) <= 12).mean()
    assert yellow > 0.2, yellow  # the sky around the rocket became the chosen colour

    # The notifier goes away: the page says so, an upload still goes through, and once the
    # notifier is back the page catches up from the snapshot.
    await asyncio.to_thread(deployment.services["notifier"].stop)
    await expect(page.locator("#connection")).to_contain_text("Offline", timeout=30_000)
    await page.screenshot(path=shots / "offline.png")
    cat = photo(data.chelsea()[::2, ::2])  # type: ignore[no-untyped-call]
    await drop_files(page, [("cat.jpg", "image/jpeg", cat)])
    await page.get_by_role("button", name="Remove backgrounds", exact=True).click()
    cat_card = page.locator("#cards .card").nth(4)
    await reach(cat_card, "queued", 30_000)
    restarted = deployment.services.replace("notifier")
    await asyncio.to_thread(restarted.start)
    await restarted.wait_ready()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=30_000)
    await reach(cat_card, "completed", LIVE)

    # A narrow screen: everything fits in 375 px.
    await page.set_viewport_size({"width": 375, "height": 812})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await page.evaluate("window.scrollTo(0, 0)")  # a sticky header stays on top
    await page.screenshot(path=shots / "narrow.png", full_page=True)

    # Nothing was fetched from anywhere but Clearcut, nothing blocked by the policy.
    foreign = [u for u in requests if not u.startswith((deployment.api, "blob:", "data:"))]
    assert foreign == []
    assert [e for e in console_errors if "Content Security Policy" in e] == []

    # A new visit shows this browser's recent images; signing out forgets the key.
    again = await context.new_page()
    await again.goto(deployment.api + "/")
    history = again.locator("#history .card")
    await expect(history).to_have_count(4, timeout=30_000)
    await expect(history.locator(".status")).to_have_text(["Done"] * 4, timeout=60_000)
    await again.get_by_role("button", name="Sign out").click()
    await expect(again.get_by_role("textbox", name="API key")).to_be_visible()
    assert await again.evaluate("localStorage.getItem('clearcut.apiKey')") is None
    await context.close()
