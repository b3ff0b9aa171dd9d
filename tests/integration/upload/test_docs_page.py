"""`/docs` works offline: Swagger UI's scripts, styles and icons come from the API itself,
checked in Chromium (every request the page makes) and by reading the page's HTML."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
from playwright.sync_api import Route, sync_playwright

from services.common.kafka.admin import create_topics, project_topics
from services.common.settings import CommonSettings, TopicNames
from tests.integration.upload.live_server import LiveServer, live_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    topics = TopicNames(prefix=f"test.docs.{uuid.uuid4().hex[:12]}.", partitions=1)
    asyncio.run(create_topics(stack.kafka, project_topics(topics)))
    with live_server(
        tmp_path_factory.mktemp("docs"), {"CLEARCUT_TOPIC_PREFIX": topics.prefix}
    ) as s:
        yield s


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def test_every_asset_the_docs_page_names_is_served_by_the_api(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    references = _References()
    references.feed(page.text)
    assert len(references.urls) >= 3, references.urls  # script, stylesheet, icon
    for url in references.urls:
        assert url.startswith("/"), f"{url} is not served by the API"
        asset = httpx.get(server.url + url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert "cdn" not in page.text.lower()
    assert httpx.get(f"{server.url}/redoc").status_code == 404


def test_the_docs_page_renders_in_chromium_without_any_outside_request(
    server: LiveServer,
) -> None:
    assert CHROMIUM, "chromium is missing: clearcut stack install --test-tools installs it"
    requested: list[str] = []
    refused: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        requested.append(url)
        if url.startswith(server.url):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            page.goto(f"{server.url}/docs")
            title = page.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
            assert title is not None and "Clearcut upload API" in title.inner_text()
            # The operations of the document are listed: the UI read /openapi.json.
            page.wait_for_selector("#operations-images-upload_image_v1_images_post")
        finally:
            browser.close()
    assert refused == []
    assert f"{server.url}/openapi.json" in requested
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in requested)
