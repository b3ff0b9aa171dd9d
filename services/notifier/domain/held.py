"""Consumed events waiting for the projector to apply them. Pure (the clock is injected).

The notifier pushes an event only once the read model shows it, so that "the websocket said
completed" implies "the upload API answers completed and serves the result". An event is
held from the moment it is consumed until the read model is found to have applied it and
to show its image (a Completed applied before its image's upload is not readable yet). It
is looked up when the projector announces it or another event of its image (at commit),
when it is held longer than a bound, and after the announcements' connection came back.
An announcement that arrives before its event was consumed is remembered for a while, so
the event is looked up as soon as it comes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from services.common.envelope import EventEnvelope


class _Held:
    __slots__ = ("envelope", "since")

    def __init__(self, envelope: EventEnvelope, since: float) -> None:
        self.envelope = envelope
        self.since = since  # when it was held, or last looked up


class HeldEvents:
    def __init__(self, *, max_events: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_events
        self._clock = clock
        self._held: OrderedDict[str, _Held] = OrderedDict()  # oldest first
        self._by_image: dict[str, set[str]] = {}
        self._announced: OrderedDict[str, None] = OrderedDict()  # not consumed yet

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, envelope: EventEnvelope) -> tuple[bool, list[EventEnvelope]]:
        """Hold a consumed event. Returns whether it was announced already (look it up
        now) and the oldest events dropped to stay within ``max_events``."""
        event_id = envelope.event.event_id
        announced = event_id in self._announced
        self._announced.pop(event_id, None)
        if event_id in self._held:
            return announced, []  # consumed twice while waiting: one wait is enough
        self._held[event_id] = _Held(envelope, self._clock())
        self._by_image.setdefault(envelope.event.image_id, set()).add(event_id)
        dropped: list[EventEnvelope] = []
        while len(self._held) > self._max:
            dropped.append(self._drop(next(iter(self._held))))
        return announced, dropped

    def announced(self, event_id: str, image_id: str) -> list[str]:
        """The projector applied ``event_id`` of ``image_id``: the held events to look up
        now (that one, and every other held event of the image, which the image's upload
        being applied may have made readable). An id not held is remembered, as many as
        ``max_events``, in case its event is consumed later."""
        if event_id not in self._held:
            self._announced[event_id] = None
            self._announced.move_to_end(event_id)
            while len(self._announced) > self._max:
                self._announced.popitem(last=False)
        return sorted(self._by_image.get(image_id, ()))

    def get(self, event_id: str) -> EventEnvelope | None:
        entry = self._held.get(event_id)
        return None if entry is None else entry.envelope

    def release(self, event_id: str) -> EventEnvelope | None:
        """Stop holding ``event_id``; its event, or None when it is not held."""
        if event_id not in self._held:
            return None
        return self._drop(event_id)

    def due(self, after: float) -> list[str]:
        """Ids of the events held, or last looked up, more than ``after`` seconds ago,
        oldest first; they count as looked up now."""
        now = self._clock()
        found: list[str] = []
        for event_id, entry in self._held.items():
            if now - entry.since > after:
                entry.since = now
                found.append(event_id)
        return found

    def ids(self) -> list[str]:
        """Every held id, oldest first."""
        return list(self._held)

    def _drop(self, event_id: str) -> EventEnvelope:
        envelope = self._held.pop(event_id).envelope
        image_id = envelope.event.image_id
        same_image = self._by_image.get(image_id)
        if same_image is not None:
            same_image.discard(event_id)
            if not same_image:
                del self._by_image[image_id]
        return envelope
