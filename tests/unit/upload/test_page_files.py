"""The web page's files: nothing fetched from another site, nothing inline that a strict
Content-Security-Policy would block, and a policy that names only this server and the
notifier."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.upload.api.page_security import content_security_policy, websocket_origin
from services.upload.api.routes_page import PAGE_DIR

PAGE_FILES = sorted(p for p in PAGE_DIR.rglob("*") if p.is_file())
_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}""")


def test_the_page_has_its_files() -> None:
    names = {p.name for p in PAGE_FILES}
    assert {"index.html", "app.js", "style.css", "api.js", "live.js"} <= names


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_no_file_refers_to_another_site(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    text = text.replace("http://www.w3.org/2000/svg", "")  # an XML namespace, never fetched
    assert _URL.findall(text) == []


def test_the_html_has_no_inline_script_style_or_handler() -> None:
    html = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert "<style" not in html
    assert re.findall(r"\sstyle=", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []


def test_every_input_has_a_label() -> None:
    html = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    for match in re.finditer(r"<(?:input|select)\b[^>]*>", html):
        tag = match.group(0)
        if 'type="radio"' in tag or "aria-label=" in tag:
            continue  # radios are wrapped in their <label>
        ident = re.search(r'\bid="([^"]+)"', tag)
        assert ident is not None, tag
        assert f'for="{ident.group(1)}"' in html, tag


def test_policy_allows_only_this_server_and_the_notifier() -> None:
    policy = content_security_policy("wss://ws.example.com:8443/v1/ws")
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self' wss://ws.example.com:8443"
    assert "unsafe" not in policy
    assert websocket_origin("ws://127.0.0.1:8081/v1/ws") == "ws://127.0.0.1:8081"
    with pytest.raises(ValueError):
        websocket_origin("http://127.0.0.1:8081/v1/ws")
