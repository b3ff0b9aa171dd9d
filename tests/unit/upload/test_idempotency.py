from __future__ import annotations

import hashlib

import pytest

from schemas import OutputFormat, ProcessingOptions
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.idempotency import (
    PriorUpload,
    UploadState,
    check_key,
    fingerprint,
    replay_of,
)

OPTIONS = ProcessingOptions(output_format=OutputFormat.PNG, background="transparent")
SHA = "a" * 64


def test_the_same_request_replays_the_published_image() -> None:
    prior = PriorUpload("img-1", UploadState.PUBLISHED, fingerprint(SHA, OPTIONS))
    assert replay_of(prior, fingerprint(SHA, OPTIONS)) == "img-1"


def test_a_different_body_or_options_under_the_same_key_is_refused() -> None:
    prior = PriorUpload("img-1", UploadState.PUBLISHED, fingerprint(SHA, OPTIONS))
    other_options = ProcessingOptions(output_format=OutputFormat.WEBP, background="transparent")
    for request in (fingerprint("b" * 64, OPTIONS), fingerprint(SHA, other_options)):
        with pytest.raises(Rejected) as caught:
            replay_of(prior, request)
        assert caught.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


def test_a_key_still_in_flight_asks_to_retry() -> None:
    prior = PriorUpload("img-1", UploadState.PENDING, fingerprint(SHA, OPTIONS))
    with pytest.raises(Rejected) as caught:
        replay_of(prior, fingerprint(SHA, OPTIONS))
    assert caught.value.code is ErrorCode.IDEMPOTENCY_KEY_IN_USE


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "naïve"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(Rejected) as caught:
        check_key(key)
    assert caught.value.code is ErrorCode.INVALID_IDEMPOTENCY_KEY


def test_absent_and_ordinary_keys_pass() -> None:
    assert check_key(None) is None
    assert check_key("order-42/upload-1") == "order-42/upload-1"


def test_foreground_estimation_is_part_of_the_fingerprint_only_when_given() -> None:
    unset = fingerprint(SHA, OPTIONS)
    off = fingerprint(SHA, OPTIONS.model_copy(update={"foreground_estimation": False}))
    on = fingerprint(SHA, OPTIONS.model_copy(update={"foreground_estimation": True}))
    assert len({unset, off, on}) == 3
    legacy = "\n".join([SHA, OPTIONS.output_format.value, OPTIONS.background, OPTIONS.model or ""])
    assert unset == hashlib.sha256(legacy.encode()).hexdigest(), "earlier keys stay valid"


def test_a_callback_url_is_part_of_the_fingerprint_only_when_given() -> None:
    from schemas import OutputFormat, ProcessingOptions
    from services.upload.domain.idempotency import fingerprint

    options = ProcessingOptions(output_format=OutputFormat.PNG, background="transparent")
    plain = fingerprint("a" * 64, options)
    assert fingerprint("a" * 64, options, None) == plain
    assert fingerprint("a" * 64, options, "https://x.example/1") != plain
    assert fingerprint("a" * 64, options, "https://x.example/1") != fingerprint(
        "a" * 64, options, "https://x.example/2"
    )
