"""remove.bg's error shape for every answer under `/v1.0/`, in one place.

Routes and dependencies under `/v1.0/` raise the API's own errors as everywhere else; this
middleware rewrites any `{"error": {"code", "message", ...}}` answer there into remove.bg's
`{"errors": [{"title", "code", "detail"}]}`, with remove.bg's statuses: 401 becomes 403, the
client errors of an image or a parameter (409, 413, 415, 422) become 400, and 402, 403,
429, 500, 503 and 504 stay what they are. Headers such as `Retry-After` and
`X-RateLimit-*` are kept, so a quota (402) or a rate limit (429) raised anywhere on the
upload path reaches a remove.bg client in the shape it expects.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/v1.0/"
# remove.bg's status for ours; statuses not listed stay.
STATUS = {401: 403, 409: 400, 413: 400, 415: 400, 422: 400}
TITLES = {
    400: "Invalid parameters or unprocessable image",
    402: "Insufficient credits",
    403: "Authentication failed",
    404: "Not found",
    405: "Method not allowed",
    429: "Rate limit exceeded",
    500: "Internal error",
    503: "Service unavailable",
    504: "Processing timed out",
}
_DROPPED = {b"content-length", b"content-type", b"www-authenticate"}


def removebg_body(status: int, code: str, detail: str) -> dict[str, Any]:
    title = TITLES.get(status, "Error")
    return {"errors": [{"title": title, "code": code, "detail": detail}]}


def translate(status: int, body: bytes) -> tuple[int, bytes] | None:
    """remove.bg's status and body for one of our error answers; ``None`` when ``body`` is
    not our error shape."""
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return None
    mapped = STATUS.get(status, status)
    return mapped, json.dumps(removebg_body(mapped, code, message)).encode()


class RemoveBgErrors:
    """ASGI middleware: error answers under `/v1.0/` in remove.bg's shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def sending(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] >= 400:
                    start = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                await _send_translated(send, start, b"".join(chunks))
                return
            await send(message)

        await self.app(scope, receive, sending)


async def _send_translated(send: Send, start: Message, body: bytes) -> None:
    status = int(start["status"])
    translated = translate(status, body)
    if translated is None:
        await send(start)
        await send({"type": "http.response.body", "body": body})
        return
    status, body = translated
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _DROPPED]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
