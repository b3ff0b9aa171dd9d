"""Idempotent uploads: what to do when an `Idempotency-Key` was seen before for the owner.

A key is remembered with a fingerprint of its request (the body's SHA-256 and the options),
so a retry of the same request gets the same image back and publishes nothing, while the
same key on a different request is refused rather than silently answered with another
image's id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from schemas import ProcessingOptions
from services.upload.domain.errors import ErrorCode, Rejected

MAX_KEY_LENGTH = 255


class UploadState(StrEnum):
    PENDING = "pending"  # reserved; the object may be stored, the event not yet published
    PUBLISHED = "published"


@dataclass(frozen=True, slots=True)
class PriorUpload:
    image_id: str
    state: UploadState
    fingerprint: str


def check_key(key: str | None) -> str | None:
    """The key when present; visible ASCII, at most 255 characters."""
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
        raise Rejected(
            ErrorCode.INVALID_IDEMPOTENCY_KEY,
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} visible ASCII characters",
        )
    return key


def fingerprint(
    body_sha256: str, options: ProcessingOptions, callback_url: str | None = None
) -> str:
    parts = [body_sha256, options.output_format.value, options.background, options.model or ""]
    if options.foreground_estimation is not None:
        # Only when given, so the fingerprints of earlier uploads stay what they were.
        parts.append(f"foreground_estimation={options.foreground_estimation}")
    if callback_url is not None:
        parts.append(f"callback_url={callback_url}")
    text = "\n".join(parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def replay_of(prior: PriorUpload, request_fingerprint: str) -> str:
    """The image id to answer with again, or `Rejected` when the key cannot be reused."""
    if prior.fingerprint != request_fingerprint:
        raise Rejected(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was already used for a different image or options; "
            "use a new key for a new upload",
            image_id=prior.image_id,
        )
    if prior.state is UploadState.PENDING:
        raise Rejected(
            ErrorCode.IDEMPOTENCY_KEY_IN_USE,
            "an upload with this Idempotency-Key is still in progress; retry shortly",
            image_id=prior.image_id,
        )
    return prior.image_id
