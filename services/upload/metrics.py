"""The upload service's own Prometheus metrics (request metrics live in the API middleware)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class UploadMetrics:
    uploads: Counter
    upload_bytes: Histogram
    swept: Counter
    refusals: Counter
    removebg: Counter
    removebg_waiting: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> UploadMetrics:
        return cls(
            uploads=Counter(
                "clearcut_uploads",
                "Upload requests by outcome: accepted, replayed, or the error code.",
                ["outcome"],
                registry=registry,
            ),
            upload_bytes=Histogram(
                "clearcut_upload_bytes",
                "Size of accepted originals in bytes.",
                buckets=(16e3, 64e3, 256e3, 1e6, 4e6, 16e6, 64e6),
                registry=registry,
            ),
            swept=Counter(
                "clearcut_uploads_swept",
                "Objects of abandoned, never published uploads removed by the sweep.",
                registry=registry,
            ),
            refusals=Counter(
                "clearcut_upload_refusals",
                "Requests refused because their key's units for the minute were spent "
                "(code rate_limited); uploads refused by the other limits are counted in "
                "clearcut_uploads by their code.",
                ["code"],
                registry=registry,
            ),
            removebg=Counter(
                "clearcut_removebg_requests",
                "Synchronous remove.bg requests by outcome: completed, or the error code.",
                ["outcome"],
                registry=registry,
            ),
            removebg_waiting=Gauge(
                "clearcut_removebg_waiting",
                "Synchronous remove.bg requests waiting for their result now.",
                registry=registry,
            ),
        )
