"""Failures of the upload service's dependencies, translated from their drivers' errors."""

from __future__ import annotations


class Unavailable(Exception):
    """A dependency (PostgreSQL, the object store, Kafka) cannot be reached or refused to
    work. Retriable: the same call may succeed later. The API answers 503 with Retry-After;
    the projector retries with backoff."""

    retriable = True

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} is unavailable: {detail}")
        self.dependency = dependency
        self.detail = detail


class BlobNotFound(LookupError):
    """The object does not exist (never stored, or removed)."""
