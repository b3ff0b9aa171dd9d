"""The signature scheme, checked against an independent computation and the documented
receiver steps."""

from __future__ import annotations

import hashlib
import hmac

from services.webhooks.domain.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    generate_secret,
    signature,
    signed_headers,
    verify,
)

BODY = b'{"id":"d1","type":"image.completed"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    secret = "whsec_test"
    expected = hmac.new(b"whsec_test", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(secret, 1_700_000_000, BODY) == f"v1={expected}"


def test_a_receiver_verifies_what_was_signed_and_nothing_else() -> None:
    secret = generate_secret()
    headers = signed_headers(secret, "d1", 1_700_000_000, BODY)
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert verify(secret, ts, sig, BODY, now=1_700_000_010)
    assert not verify(secret, ts, sig, BODY + b" ", now=1_700_000_010)  # body changed
    assert not verify(secret, "1700000001", sig, BODY, now=1_700_000_010)  # timestamp changed
    assert not verify(generate_secret(), ts, sig, BODY, now=1_700_000_010)  # other secret
    assert not verify(secret, ts, sig, BODY, now=1_700_000_000 + 301)  # too old: a replay
    assert not verify(secret, "soon", sig, BODY, now=1_700_000_000)
    assert verify(secret, ts, f"v1=00, {sig}", BODY, now=1_700_000_000)  # one of several


def test_secrets_are_new_every_time_and_recognisable() -> None:
    a, b = generate_secret(), generate_secret()
    assert a != b and a.startswith("whsec_") and len(a) > 40
