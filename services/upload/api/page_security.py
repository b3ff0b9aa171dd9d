"""The security headers of the web page: a strict Content-Security-Policy that allows only
this server's own files and the notifier's websocket."""

from __future__ import annotations

from urllib.parse import urlsplit

PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def websocket_origin(url: str) -> str:
    """``ws://host:port`` of a websocket URL (the form CSP's `connect-src` takes)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"{url!r} is not a ws:// or wss:// URL")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(websocket_url: str) -> str:
    """No inline script or style, nothing from another site: scripts, styles, fonts and
    images from this server (images also from `blob:` URLs the page makes itself), requests
    to this server and the notifier's websocket only."""
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' blob: data:",
        "font-src": "'self'",
        "connect-src": f"'self' {websocket_origin(websocket_url)}",
        "manifest-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())
