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
import os
import re
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.async_api import Browser, Page, async_playwright, expect
from skimage import data

from services.common.auth import AuthSettings, create_key
from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import CommonSettings, TopicNames
from services.devstack.system import TEST_TOOLS
from services.upload.adapters.postgres import connect as pg_connect
from tests.e2e.processes import ServiceProcess, free_port

CHROMIUM = "/usr/bin/chromium"
LIVE = 240_000  # ms: waits that include real inference on a shared 2-core machine


@dataclass
class Deployment:
    api: str
    ws_origin: str
    key: str
    notifier: ServiceProcess
    shots: Path


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
    assert CHROMIUM in TEST_TOOLS
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
    unique = uuid.uuid4().hex[:10]
    topics = TopicNames(prefix=f"test.e2e.page.{unique}.", partitions=1)
    await create_topics(stack.kafka, project_topics(topics))
    conn = await pg_connect(stack.postgres)
    try:
        key = await create_key(conn, f"page-{unique}")
    finally:
        await conn.close()
    logs = tmp_path_factory.mktemp("page-services")
    shots = screenshot_dir(tmp_path_factory)
    env = {"CLEARCUT_TOPIC_PREFIX": topics.prefix}
    upload_port, notifier_port, processor_port = free_port(), free_port(), free_port()
    ws = f"ws://127.0.0.1:{notifier_port}/v1/ws"
    notifier = ServiceProcess(
        "notifier",
        logs,
        env | {"CLEARCUT_NOTIFIER_PORT": str(notifier_port)},
        f"http://127.0.0.1:{notifier_port}/readyz",
    )
    services = [
        ServiceProcess(
            "upload",
            logs,
            env
            | {
                "CLEARCUT_UPLOAD_PORT": str(upload_port),
                "CLEARCUT_UPLOAD_WEBSOCKET_URL": ws,
            },
            f"http://127.0.0.1:{upload_port}/readyz",
        ),
        ServiceProcess(
            "projector",
            logs,
            env
            | {
                "CLEARCUT_UPLOAD_PROJECTOR_GROUP": f"tests-projector-{unique}",
                "CLEARCUT_UPLOAD_PROJECTOR_METRICS_PORT": "0",
            },
        ),
        ServiceProcess(
            "processor",
            logs,
            env
            | {
                "CLEARCUT_PROCESSOR_APP_ID": f"tests-processor-{unique}",
                "CLEARCUT_PROCESSOR_WEB_PORT": str(processor_port),
                "CLEARCUT_PROCESSOR_WARMUP_RUNS": "1",
            },
            f"http://127.0.0.1:{processor_port}/readyz",
        ),
    ]
    deployment = Deployment(
        f"http://127.0.0.1:{upload_port}", f"ws://127.0.0.1:{notifier_port}", key, notifier, shots
    )
    try:
        for service in [*services, notifier]:
            service.start()
        for service in [*services, notifier]:
            await service.wait_ready()
        yield deployment
    finally:
        for service in [*services, deployment.notifier]:
            service.stop()
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
    await expect(notes_card).to_have_attribute("data-state", "rejected", timeout=30_000)
    await expect(notes_card.locator(".status")).to_have_text(
        "This is not a photo Clearcut can read."
    )
    await expect(notes_card.locator(".detail")).to_have_text(
        "Choose a JPEG, PNG, WebP, GIF or TIFF image."
    )
    await page.screenshot(path=shots / "in-progress.png", full_page=True)

    for done in (astronaut_card, coffee_card):
        await expect(done).to_have_attribute("data-state", "completed", timeout=LIVE)
        await expect(done.locator(".detail")).to_have_text(
            re.compile(r"^Processed in \d+\.\d s\.$"), timeout=5_000
        )
    await expect(notes_card).to_have_attribute("data-state", "rejected")
    states = await page.evaluate("window.cardStates")
    for name in ("astronaut.jpg", "coffee.jpg"):
        assert states[name][:3] == ["ready", "uploading", "queued"], states
        assert states[name][-1] == "completed", states
    assert states["notes.txt"] == ["ready", "uploading", "rejected"], states
    # Followed over the websocket, not polled: one status request per completed image.
    status_reads = [u for u in requests if re.search(r"/v1/images/[0-9a-f-]{36}$", u)]
    assert len(status_reads) == 2, status_reads
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

    # The notifier goes away: the page says so, an upload still goes through, and once the
    # notifier is back the page catches up from the snapshot.
    deployment.notifier.stop()
    await expect(page.locator("#connection")).to_contain_text("Offline", timeout=30_000)
    await page.screenshot(path=shots / "offline.png")
    cat = photo(data.chelsea()[::2, ::2])  # type: ignore[no-untyped-call]
    await drop_files(page, [("cat.jpg", "image/jpeg", cat)])
    await page.get_by_role("button", name="Remove backgrounds", exact=True).click()
    cat_card = page.locator("#cards .card").nth(3)
    await expect(cat_card).to_have_attribute("data-state", "queued", timeout=30_000)
    old = deployment.notifier
    restarted = ServiceProcess("notifier", old.log.parent, old.env, old.ready_url)
    deployment.notifier = restarted
    restarted.start()
    await restarted.wait_ready()
    await expect(page.locator("#connection")).to_have_text("Live", timeout=30_000)
    await expect(cat_card).to_have_attribute("data-state", "completed", timeout=LIVE)

    # A narrow screen: everything fits in 375 px.
    await page.set_viewport_size({"width": 375, "height": 812})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await page.screenshot(path=shots / "narrow.png", full_page=True)

    # Nothing was fetched from anywhere but Clearcut, nothing blocked by the policy.
    foreign = [u for u in requests if not u.startswith((deployment.api, "blob:", "data:"))]
    assert foreign == []
    assert [e for e in console_errors if "Content Security Policy" in e] == []

    # A new visit shows this browser's recent images; signing out forgets the key.
    again = await context.new_page()
    await again.goto(deployment.api + "/")
    history = again.locator("#history .card")
    await expect(history).to_have_count(3, timeout=30_000)
    await expect(history.locator(".status")).to_have_text(["Done", "Done", "Done"], timeout=60_000)
    await again.get_by_role("button", name="Sign out").click()
    await expect(again.get_by_role("textbox", name="API key")).to_be_visible()
    assert await again.evaluate("localStorage.getItem('clearcut.apiKey')") is None
    await context.close()
