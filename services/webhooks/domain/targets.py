"""Which URLs and addresses a webhook may be sent to. Pure.

Outside development only ``https://`` URLs on public addresses are allowed: private
(RFC 1918, unique-local), loopback, link-local (cloud metadata at 169.254.169.254
included), carrier-grade NAT, multicast, reserved and unspecified addresses are refused,
also when an IPv6 address embeds one of them (IPv4-mapped, 6to4, NAT64). The check runs on
the URL's text and again on every address its host name resolves to, right before
connecting to exactly those addresses.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Host names made only of digits, dots and hex markers: legacy numeric IPv4 forms such as
# 2130706433 or 0x7f.1 that some resolvers map onto an address.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class Refusal(StrEnum):
    """Why a target is not sent to; recorded in the delivery log."""

    INVALID_URL = "invalid_url"
    INSECURE_SCHEME = "insecure_scheme"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    RESERVED = "reserved"


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_private: bool = False  # development only: loopback, private and link-local too
    allow_http: bool = False  # development only: plain http://


class Refused(Exception):
    """A target that must not be sent to, and why."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> Refusal | None:
    """Why ``address`` is not a public one, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_refusal(embedded)
    if address.is_loopback:
        return Refusal.LOOPBACK
    if address.is_link_local:
        return Refusal.LINK_LOCAL
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return Refusal.RESERVED
    if address.is_private or address in _CGNAT or not address.is_global:
        return Refusal.PRIVATE
    return None


def check_address(address: str, policy: TargetPolicy) -> None:
    """Raise `Refused` unless a connection to ``address`` is allowed."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    reason = address_refusal(parsed)
    if reason is not None and not policy.allow_private:
        raise Refused(reason, f"{address} is a {reason.value.replace('_', '-')} address")


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    host: str
    is_address: bool  # the host is an IP literal, already checked


def check_url(url: str, policy: TargetPolicy) -> Target:
    """The parsed target, or `Refused` for a URL that must not be sent to whatever its host
    resolves to. A host name still needs `check_address` on each resolved address."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises for a port that is not a number in range
    except ValueError:
        raise Refused(Refusal.INVALID_URL, "not a valid URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("https", "http") or not host:
        raise Refused(Refusal.INVALID_URL, "not an absolute http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise Refused(Refusal.INVALID_URL, "URL carries credentials")
    if scheme == "http" and not policy.allow_http:
        raise Refused(Refusal.INSECURE_SCHEME, "plain http:// is refused; use https://")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if all(_NUMERIC_LABEL.match(label) for label in host.split(".")):
            raise Refused(
                Refusal.INVALID_URL, f"{host!r} is a non-canonical numeric address"
            ) from None
        return Target(url, host, is_address=False)
    check_address(host, policy)
    return Target(url, host, is_address=True)
