"""How a webhook is signed: HMAC-SHA256 over ``"<timestamp>.<body>"`` with the endpoint's
secret, the timestamp (Unix seconds) in its own header. Pure.

A receiver recomputes the HMAC over the header's timestamp, a dot and the raw body bytes,
compares it in constant time with the hex after ``v1=``, and refuses timestamps too far from
its own clock (replays). The secret's whole text, prefix included, is the HMAC key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SCHEME = "v1"
ID_HEADER = "Clearcut-Webhook-Id"
TIMESTAMP_HEADER = "Clearcut-Webhook-Timestamp"
SIGNATURE_HEADER = "Clearcut-Webhook-Signature"
ATTEMPT_HEADER = "Clearcut-Webhook-Attempt"
DEFAULT_TOLERANCE_SECONDS = 300


def generate_secret() -> str:
    """A fresh signing secret: 32 random bytes, URL-safe, recognisable by its prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(secret: str, delivery_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that let a receiver check where a webhook came from and when."""
    return {
        ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (also used by the tests): the signature matches and the timestamp
    is within ``tolerance_seconds`` of ``now``. Several comma-separated ``v1=`` values (sent
    while a secret is being replaced) pass when any one matches."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(
        hmac.compare_digest(expected, candidate.strip())
        for candidate in signature_header.split(",")
    )
