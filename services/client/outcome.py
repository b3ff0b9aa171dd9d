"""What the client makes of the messages it receives: pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTED = "io.clearcut.image.processing.started.v1"
COMPLETED = "io.clearcut.image.processing.completed.v1"
FAILED = "io.clearcut.image.processing.failed.v1"


@dataclass
class Tracked:
    """One photo on its way through the pipeline."""

    path: Path
    image_id: str | None = None
    task_id: str | None = None
    status: str = "uploading"  # uploading, queued, processing, completed, failed
    error: str | None = None
    cutout_url: str | None = None
    saved_to: Path | None = None
    trace_id: str | None = None
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def pending(self) -> bool:
        """Accepted, and not finished when the client stopped waiting: still processing."""
        return self.image_id is not None and not self.finished


def apply_message(tracked: Tracked, message: dict[str, Any]) -> bool:
    """Update ``tracked`` from a websocket message about its image; return whether it changed.

    Only the current task counts: a message about another task of the same image (a
    reprocessing requested elsewhere) is ignored.
    """
    if message.get("type") == "snapshot":
        return False
    if message.get("type") != "event":
        return False
    event = message.get("event") or {}
    data = event.get("data") or {}
    if tracked.task_id and data.get("task_id") not in (None, tracked.task_id):
        return False
    kind = event.get("type")
    before = tracked.status
    if kind == STARTED and tracked.status in ("uploading", "queued"):
        tracked.status = "processing"
    elif kind == COMPLETED:
        tracked.status = "completed"
        tracked.error = None
        tracked.cutout_url = (message.get("links") or {}).get("cutout")
        tracked.timings = data.get("timings") or {}
    elif kind == FAILED and tracked.status != "completed":
        tracked.status = "failed"
        tracked.error = f"{data.get('reason', 'failed')}: {data.get('message', '')}".strip(": ")
    return tracked.status != before


def apply_snapshot(tracked: Tracked, image: dict[str, Any]) -> bool:
    """Update ``tracked`` from one image of a snapshot (state that predates the stream)."""
    if tracked.task_id and image.get("task_id") not in (None, tracked.task_id):
        return False
    before = tracked.status
    status = image.get("status")
    if status == "completed":
        tracked.status = "completed"
        tracked.cutout_url = (image.get("links") or {}).get("cutout")
    elif status == "failed" and tracked.status != "completed":
        error = image.get("error") or {}
        tracked.status = "failed"
        tracked.error = f"{error.get('reason', 'failed')}: {error.get('message', '')}".strip(": ")
    elif status == "processing" and tracked.status in ("uploading", "queued"):
        tracked.status = "processing"
    return tracked.status != before
