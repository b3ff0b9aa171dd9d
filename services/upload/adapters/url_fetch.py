"""Fetching an image by URL for the remove.bg endpoint, without letting a caller reach
what only the server can reach (SSRF).

Only `http` and `https`. The host name is resolved once and every address it resolves to
must be public (not private, loopback, link-local, multicast, reserved or unspecified)
unless `allow_private` (a development setting) is on; the connection then goes to that
checked address (the name is kept for `Host` and TLS), so a second resolution cannot
point it elsewhere. Redirects are followed by hand, at most `max_redirects`, each target
checked the same way. The body is read within `max_bytes` and the whole fetch within
`timeout` seconds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from services.upload.domain.errors import ErrorCode, Rejected, shown

REDIRECTS = (301, 302, 303, 307, 308)


def _refused(message: str) -> Rejected:
    return Rejected(ErrorCode.IMAGE_URL_REFUSED, message)


def _failed(message: str) -> Rejected:
    return Rejected(ErrorCode.IMAGE_URL_FAILED, message)


def allowed_address(address: str, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private:
        return not ip.is_unspecified and not ip.is_multicast
    return ip.is_global and not ip.is_multicast


class UrlFetcher:
    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float,
        max_bytes: int,
        max_redirects: int = 3,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects

    async def fetch(self, url: str) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(url)
        except TimeoutError:
            raise _failed(f"the image URL did not answer within {self._timeout:g} s") from None

    async def _follow(self, url: str) -> bytes:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            for _ in range(self._max_redirects + 1):
                target, host, port = await self._checked(url)
                request = client.build_request(
                    "GET",
                    target,
                    headers={"Host": host if port in (80, 443) else f"{host}:{port}"},
                    extensions={"sni_hostname": host},
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    raise _failed(
                        f"the image URL could not be fetched: {type(exc).__name__}"
                    ) from None
                try:
                    if response.status_code in REDIRECTS and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise _failed(f"the image URL answered HTTP {response.status_code}")
                    return await self._body(response)
                finally:
                    await response.aclose()
        raise _failed(f"the image URL redirected more than {self._max_redirects} times")

    async def _body(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise _too_large(self._max_bytes)
        buffer = bytearray()
        try:
            async for chunk in response.aiter_raw():
                buffer += chunk
                if len(buffer) > self._max_bytes:
                    raise _too_large(self._max_bytes)
        except httpx.HTTPError as exc:
            raise _failed(f"reading the image URL failed: {type(exc).__name__}") from None
        return bytes(buffer)

    async def _checked(self, url: str) -> tuple[str, str, int]:
        """The URL with its host replaced by a checked address, the host and the port."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _refused(f"image_url {shown(url)} is not an http or https URL")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError:
            raise _failed(f"the host of image_url {shown(host)} does not resolve") from None
        addresses = sorted({str(info[4][0]) for info in infos})
        if not addresses or not all(allowed_address(a, self._allow_private) for a in addresses):
            raise _refused(
                f"image_url {shown(url)} points to an address that is not public "
                "(private, loopback or link-local); it is not fetched"
            )
        address = addresses[0]
        shown_host = f"[{address}]" if ":" in address else address
        netloc = f"{shown_host}:{port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host, port


def _too_large(limit: int) -> Rejected:
    return Rejected(
        ErrorCode.BODY_TOO_LARGE,
        f"the image at image_url is larger than the limit of {limit} bytes",
        max_bytes=limit,
    )
