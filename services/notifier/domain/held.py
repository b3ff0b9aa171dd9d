"""Consumed events waiting for the projector to apply them. Pure (the clock is injected).

The notifier pushes an event only once the read model has it, so that "the websocket said
completed" implies "the upload API answers completed and serves the result". An event is
held from the moment it is consumed until its id is known to be applied: announced by the
projector at commit, or found in the applied-events view (for an event held longer than a
bound, and for every held event after the announcements' connection came back). An
announcement that arrives before its event was consumed is remembered for a while, so the
event is released as soon as it comes.
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
        self._applied: OrderedDict[str, None] = OrderedDict()  # announced, not consumed yet

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, envelope: EventEnvelope) -> tuple[bool, list[EventEnvelope]]:
        """Take a consumed event: (True, []) when it is already known applied (release it
        now); else (False, the oldest events dropped to stay within ``max_events``)."""
        if envelope.event.event_id in self._applied:
            del self._applied[envelope.event.event_id]
            return True, []
        if envelope.event.event_id in self._held:
            return False, []  # consumed twice while waiting: one wait is enough
        self._held[envelope.event.event_id] = _Held(envelope, self._clock())
        dropped: list[EventEnvelope] = []
        while len(self._held) > self._max:
            dropped.append(self._held.popitem(last=False)[1].envelope)
        return False, dropped

    def applied(self, event_id: str) -> EventEnvelope | None:
        """The held event of ``event_id``, now applied, to release; None when none is held
        (then the id is remembered, as many as ``max_events``, in case the event is
        consumed later)."""
        entry = self._held.pop(event_id, None)
        if entry is not None:
            return entry.envelope
        self._applied[event_id] = None
        self._applied.move_to_end(event_id)
        while len(self._applied) > self._max:
            self._applied.popitem(last=False)
        return None

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
