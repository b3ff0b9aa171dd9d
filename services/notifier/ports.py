"""What the hub needs from its edges: clients to push to and a source of snapshots (and
of which events the read model has applied)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.notifier.domain.snapshot import ImageSnapshot


class Client(Protocol):
    """One connected, authenticated websocket client."""

    @property
    def owner(self) -> str: ...

    def offer(self, text: str, *, kind: str = "control", event_time: float | None = None) -> bool:
        """Queue a message; False when the client is gone or being dropped (its queue was
        full)."""
        ...


class SnapshotSource(Protocol):
    """The read model, as far as snapshots go."""

    async def images(self, image_ids: Sequence[str]) -> dict[str, ImageSnapshot]:
        """The images among ``image_ids`` that exist, whoever owns them."""
        ...

    async def owner_images(
        self, owner: str, since: datetime | None, limit: int
    ) -> list[ImageSnapshot]:
        """The owner's images still queued or processing, plus those changed at or after
        ``since``; most recently changed first, at most ``limit``."""
        ...

    async def readable(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among ``event_ids`` of events the projector has applied to an image the
        read model shows (or that deleted their image)."""
        ...


class ReadModelUnavailable(Exception):
    """The read model cannot be reached; asking again later may succeed."""

    retriable = True
