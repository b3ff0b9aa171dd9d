"""The websocket endpoint: authenticate, then read client messages until the socket closes.

The API key comes from ``Authorization: Bearer <key>`` on the handshake, from the
``api_key`` query parameter, or (for browsers, which cannot set headers) from a first
message ``{"type": "auth", "key": "..."}`` within the auth timeout. Bad client messages
get an ``error`` message and the connection stays open; only abuse closes it.

``image_id`` query parameters (the ``websocket`` link the upload API returns carries one)
subscribe the connection to those images as soon as it is authenticated, as a
``{"type": "subscribe", "images": [...], "request_id": "image_id"}`` message would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from typing import Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from services.common.auth import bearer_token, hash_key
from services.notifier.adapters.api_keys import KeysUnavailable
from services.notifier.domain import server_messages
from services.notifier.domain.client_messages import (
    Auth,
    Ping,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    parse,
)
from services.notifier.domain.server_messages import ErrorCode
from services.notifier.hub import Hub
from services.notifier.metrics import NotifierMetrics
from services.notifier.settings import NotifierSettings
from services.notifier.web.connection import Connection

logger = logging.getLogger(__name__)

UNAUTHORIZED_CODE = 4401  # application range: authentication failed
POLICY_VIOLATION = int(WSCloseCode.POLICY_VIOLATION)  # 1008
TRY_AGAIN_LATER = int(WSCloseCode.TRY_AGAIN_LATER)  # 1013
GOING_AWAY = int(WSCloseCode.GOING_AWAY)  # 1001
LINK_REQUEST_ID = "image_id"  # answers to the subscription of the link's image_id parameters


class OwnerLookup(Protocol):
    async def owner_for(self, key: str | None) -> str | None: ...

    async def still_active(self, digests: set[str]) -> set[str]: ...


class WebsocketEndpoint:
    def __init__(
        self,
        hub: Hub,
        keys: OwnerLookup,
        settings: NotifierSettings,
        metrics: NotifierMetrics,
    ) -> None:
        self._hub = hub
        self._keys = keys
        self._settings = settings
        self._metrics = metrics
        self._connections: set[Connection] = set()
        self._digests: dict[Connection, str] = {}  # each connection's key, hashed

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            heartbeat=self._settings.heartbeat_seconds,
            max_msg_size=self._settings.max_message_bytes,
            compress=False,
            timeout=self._settings.close_timeout_seconds,
        )
        if not ws.can_prepare(request).ok:
            return web.json_response(
                {
                    "code": "websocket_required",
                    "message": "this endpoint speaks the websocket protocol only",
                },
                status=426,
                headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            )
        _limit_send_buffer(request, self._settings.send_buffer_bytes)
        await ws.prepare(request)
        abort = _aborter(request)
        try:
            caller = await self._authenticate(ws, request)
            if caller is not None:
                owner, digest = caller
                await self._serve(ws, owner, digest, abort, request.query.getall("image_id", []))
        finally:
            self._metrics.disconnects.labels(str(ws.close_code)).inc()
            if ws.close_code == WSCloseCode.ABNORMAL_CLOSURE:
                abort()  # a dead peer: drop whatever is still buffered for it
        return ws

    async def close_all(self, code: int = GOING_AWAY, reason: str = "server shutting down") -> None:
        connections = list(self._connections)
        await asyncio.gather(*(c.close(code, reason) for c in connections))

    async def close_revoked(self) -> int:
        """Close, with 4401, every open connection whose key was revoked or has expired
        since it connected; the number closed."""
        digests = dict(self._digests)
        if not digests:
            return 0
        active = await self._keys.still_active(set(digests.values()))
        gone = [c for c, digest in digests.items() if digest not in active and not c.closing]
        for connection in gone:
            logger.info("closing a websocket of %r: its API key was revoked", connection.owner)
            self._metrics.client_errors.labels(ErrorCode.UNAUTHORIZED.value).inc()
        await asyncio.gather(*(c.close(UNAUTHORIZED_CODE, "API key revoked") for c in gone))
        return len(gone)

    async def watch_keys(self, interval_seconds: float) -> None:
        """Check the keys of open connections every ``interval_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.close_revoked()
            except KeysUnavailable as exc:
                logger.warning("cannot check the keys of open websockets: %s", exc)

    async def _serve(
        self,
        ws: web.WebSocketResponse,
        owner: str,
        digest: str,
        abort: Callable[[], None],
        image_ids: list[str],
    ) -> None:
        settings = self._settings
        connection = Connection(
            ws,
            owner,
            queue_size=settings.queue_size,
            close_timeout=settings.close_timeout_seconds,
            metrics=self._metrics,
            abort=abort,
        )
        if not self._hub.register(connection):
            await self._refuse(
                ws,
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"{owner!r} already has {settings.max_connections_per_owner} open connections "
                "to this server",
                TRY_AGAIN_LATER,
                "too many connections",
            )
            return
        self._connections.add(connection)
        self._digests[connection] = digest
        try:
            connection.offer(
                server_messages.welcome(
                    owner,
                    heartbeat_seconds=settings.heartbeat_seconds,
                    limits={
                        "max_subscriptions": settings.max_subscriptions,
                        "queue_size": settings.queue_size,
                        "max_message_bytes": settings.max_message_bytes,
                        "snapshot_limit": settings.snapshot_limit,
                    },
                )
            )
            if image_ids:
                link = {"type": "subscribe", "images": image_ids, "request_id": LINK_REQUEST_ID}
                await self._handle(connection, json.dumps(link))
            await self._read(ws, connection)
            await connection.wait_closed()
        finally:
            self._connections.discard(connection)
            self._digests.pop(connection, None)
            self._hub.unregister(connection)
            connection.stop()

    async def _read(self, ws: web.WebSocketResponse, connection: Connection) -> None:
        errors = 0
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                ok = await self._handle(connection, message.data)
            elif message.type is WSMsgType.BINARY:
                self._hub.send_error(
                    connection,
                    ErrorCode.UNSUPPORTED_FRAME,
                    "binary frames are not supported; send JSON in text frames",
                )
                ok = False
            else:
                break
            errors = 0 if ok else errors + 1
            if connection.closing:
                break
            if errors >= self._settings.max_consecutive_errors:
                await connection.close(POLICY_VIOLATION, "too many invalid messages in a row")
                break

    async def _handle(self, connection: Connection, text: str) -> bool:
        """Act on one client message; False when it was invalid."""
        try:
            message = parse(text)
        except ProtocolError as exc:
            self._hub.send_error(
                connection, exc.code, exc.message, request_id=exc.request_id, field=exc.field
            )
            return False
        if isinstance(message, Subscribe):
            await self._hub.subscribe(connection, message)
        elif isinstance(message, Unsubscribe):
            self._hub.unsubscribe(connection, message)
        elif isinstance(message, Ping):
            connection.offer(server_messages.pong(message.request_id))
        elif isinstance(message, Auth):
            self._hub.send_error(
                connection,
                ErrorCode.ALREADY_AUTHENTICATED,
                f"this connection is already authenticated as {connection.owner!r}",
                request_id=message.request_id,
            )
            return False
        return True

    async def _authenticate(
        self, ws: web.WebSocketResponse, request: web.Request
    ) -> tuple[str, str] | None:
        """The owner behind the client's key and the key's digest; None when the connection
        was closed instead."""
        header = request.headers.get("Authorization")
        key = bearer_token(header) or request.query.get("api_key") or None
        if header is not None and key is None:
            await self._unauthorized(ws, "the Authorization header must be 'Bearer <API key>'")
            return None
        if key is None:
            key = await self._auth_message(ws)
            if key is None:
                return None
        try:
            owner = await self._keys.owner_for(key)
        except KeysUnavailable as exc:
            logger.warning("cannot check an API key: %s", exc)
            await self._refuse(
                ws,
                ErrorCode.UNAVAILABLE,
                "API keys cannot be checked right now; reconnect shortly",
                TRY_AGAIN_LATER,
                "authentication unavailable",
            )
            return None
        if owner is None:
            await self._unauthorized(
                ws, "the API key is unknown, revoked, expired or lacks the images:read scope"
            )
            return None
        return owner, hash_key(key)

    async def _auth_message(self, ws: web.WebSocketResponse) -> str | None:
        """Wait for ``{"type": "auth", "key": ...}``; other messages get an error."""
        loop = asyncio.get_running_loop()
        timeout = self._settings.auth_timeout_seconds
        deadline = loop.time() + timeout
        errors = 0
        while (remaining := deadline - loop.time()) > 0:
            try:
                # One deadline for the whole wait: pongs answering heartbeats arrive
                # meanwhile and must not restart it.
                async with asyncio.timeout(remaining):
                    message = await ws.receive()
            except TimeoutError:
                break
            if message.type is not WSMsgType.TEXT:
                if message.type is WSMsgType.BINARY:
                    errors += 1
                    await self._send_error(
                        ws, ErrorCode.UNSUPPORTED_FRAME, "send JSON in text frames"
                    )
                    continue
                return None  # closed or broken
            try:
                parsed = parse(message.data)
            except ProtocolError as exc:
                errors += 1
                await self._send_error(ws, exc.code, exc.message, exc.request_id, exc.field)
            else:
                if isinstance(parsed, Auth):
                    return parsed.key
                errors += 1
                await self._send_error(
                    ws,
                    ErrorCode.NOT_AUTHENTICATED,
                    'authenticate first: send {"type": "auth", "key": "<API key>"}',
                    parsed.request_id,
                )
            if errors >= self._settings.max_consecutive_errors:
                await ws.close(code=POLICY_VIOLATION, message=b"too many invalid messages in a row")
                return None
        await self._unauthorized(ws, f"no API key received within {timeout:g} s")
        return None

    async def _unauthorized(self, ws: web.WebSocketResponse, message: str) -> None:
        await self._refuse(ws, ErrorCode.UNAUTHORIZED, message, UNAUTHORIZED_CODE, "unauthorized")

    async def _refuse(
        self,
        ws: web.WebSocketResponse,
        code: ErrorCode,
        message: str,
        close_code: int,
        reason: str,
    ) -> None:
        """Tell the client why in an ``error`` message, then close with ``close_code``."""
        self._metrics.client_errors.labels(code.value).inc()
        try:
            await ws.send_str(server_messages.error(code, message))
            await ws.close(code=close_code, message=reason.encode("utf-8"))
        except (ConnectionError, RuntimeError):
            pass

    async def _send_error(
        self,
        ws: web.WebSocketResponse,
        code: ErrorCode,
        message: str,
        request_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self._metrics.client_errors.labels(code.value).inc()
        await ws.send_str(server_messages.error(code, message, request_id=request_id, field=field))


def _aborter(request: web.Request) -> Callable[[], None]:
    def abort() -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()

    return abort


def _limit_send_buffer(request: web.Request, size: int) -> None:
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None and size else None
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
