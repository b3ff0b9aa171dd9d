"""Who is subscribed to what, and the push of every consumed event to its subscribers.

`Hub.publish` runs for each event from the feed. The event is held (`HeldEvents`) until
the read model shows it (applied, and its image there): the projector's announcement of
an event of the image (`Hub.applied`) or the event being held too long (`Hub.check_held`)
has it looked up, and `Hub.release` pushes what the read model shows. A released event passes the
forward-only rule of `RecentEvents`, its message is rendered once, and the same text is
queued for every client subscribed to its image or to all of its owner's images. None of
this awaits, so one slow client cannot hold up anyone: its queue fills and it is dropped.
Because only applied events are pushed, a client told "completed" finds the image
completed, with its results, at the upload API.

`Hub.subscribe` answers a client with one snapshot message: the read model's rows brought up
to date with the events pushed recently (see `domain.snapshot`), which covers an event
released while the read model's answer was on its way. Everything after the read model's
answer runs without awaiting, so no event can slip between the snapshot and the stream. An
id the read model does not know yet is looked up again when the projector announces an
applied event of that image, within the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace

from schemas import ImageDeleted
from services.common.envelope import EventEnvelope
from services.notifier.domain import server_messages
from services.notifier.domain.client_messages import Subscribe, Unsubscribe
from services.notifier.domain.cloudevent import structured
from services.notifier.domain.held import HeldEvents
from services.notifier.domain.links import Links
from services.notifier.domain.notice import Notice, notice_for
from services.notifier.domain.progress import PUSHED_EVENTS, Status
from services.notifier.domain.recent import RecentEvents, Verdict
from services.notifier.domain.server_messages import ErrorCode
from services.notifier.domain.snapshot import ImageSnapshot, covers, current_state
from services.notifier.metrics import NotifierMetrics
from services.notifier.ports import Client, ReadModelUnavailable, SnapshotSource
from services.notifier.routing import RoutingTable, Subscriptions

logger = logging.getLogger(__name__)

_ACTIVE = (Status.QUEUED, Status.PROCESSING)


@dataclass(frozen=True, slots=True)
class Limits:
    max_subscriptions: int
    max_connections_per_owner: int
    snapshot_limit: int
    unknown_image_grace_seconds: float
    held_check_seconds: float = 2.0


_CHECK_BATCH = 1000


class Hub:
    def __init__(
        self,
        snapshots: SnapshotSource,
        recent: RecentEvents,
        held: HeldEvents,
        links: Links,
        limits: Limits,
        metrics: NotifierMetrics,
        *,
        tracer: trace.Tracer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshots = snapshots
        self._recent = recent
        self._held = held
        self._tracer = tracer
        # The consumer span each held event was consumed in (its name and context), so
        # that its push, later, continues the event's trace.
        self._spans: dict[str, tuple[str, otel_context.Context]] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._pending: set[str] = set()  # announced: to look up
        self._pending_signal = asyncio.Event()
        self._links = links
        self._limits = limits
        self._metrics = metrics
        self._clock = clock
        self._routes = RoutingTable(limits.max_connections_per_owner)

    # -- connections -------------------------------------------------------------------

    @property
    def clients(self) -> list[Client]:
        return self._routes.clients

    def register(self, client: Client) -> bool:
        """Admit a client; False when its owner already has the most connections allowed."""
        if not self._routes.add(client):
            return False
        self._metrics.connections.inc()
        return True

    def unregister(self, client: Client) -> None:
        state = self._routes.remove(client)
        if state is not None:
            self._metrics.subscriptions.dec(state.count)
            self._metrics.connections.dec()

    # -- events --------------------------------------------------------------------------

    def publish(self, envelope: EventEnvelope) -> int:
        """Take one consumed event and hold it until the read model shows it (`look_up`).
        Returns the number of clients it was queued for now: always 0."""
        if not isinstance(envelope.event, (ImageDeleted, *PUSHED_EVENTS)):
            return 0
        announced, dropped = self._held.hold(envelope)
        for lost in dropped:
            self._spans.pop(lost.event.event_id, None)
            self._metrics.held_dropped.inc()
            logger.warning("dropping held event %s: more than the most events held", lost.id)
        self._metrics.held.set(len(self._held))
        span = trace.get_current_span()
        span.set_attribute("clearcut.notifier.held", True)
        name = getattr(span, "name", None)
        if self._tracer is not None and isinstance(name, str):
            self._spans[envelope.event.event_id] = (name, otel_context.get_current())
        if announced:
            self._look_up_soon([envelope.event.event_id])
        return 0

    def applied(self, event_id: str, image_id: str) -> None:
        """The projector announced ``event_id`` of ``image_id`` as applied: look up the
        image's held events, and wake subscriptions waiting for the image."""
        for waiter in self._waiters.get(image_id, ()):
            waiter.set()
        self._look_up_soon(self._held.announced(event_id, image_id))

    def _look_up_soon(self, event_ids: list[str]) -> None:
        if event_ids:
            self._pending.update(event_ids)
            self._pending_signal.set()

    async def run_look_ups(self, stop: asyncio.Event) -> None:
        """Look up the announced events (in batches, as they come) until ``stop`` is set."""
        while not stop.is_set():
            stopping = asyncio.ensure_future(stop.wait())
            signalled = asyncio.ensure_future(self._pending_signal.wait())
            await asyncio.wait({stopping, signalled}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            signalled.cancel()
            if not stop.is_set():
                await self.look_up_pending()

    async def look_up_pending(self) -> int:
        """Look up the events announced since the last call; returns how many were pushed."""
        self._pending_signal.clear()
        pending, self._pending = self._pending, set()
        return await self._look_up([i for i in self._held.ids() if i in pending])

    async def check_held(self, *, everything: bool = False) -> int:
        """Look up the events held longer than ``held_check_seconds`` (or all of them) and
        push those the read model shows. Returns how many were pushed."""
        due = self._held.ids() if everything else self._held.due(self._limits.held_check_seconds)
        return await self._look_up(due)

    async def _look_up(self, event_ids: list[str]) -> int:
        released = 0
        for start in range(0, len(event_ids), _CHECK_BATCH):
            chunk = event_ids[start : start + _CHECK_BATCH]
            try:
                readable = await self._snapshots.readable(chunk)
            except ReadModelUnavailable as exc:
                logger.warning("cannot look up held events (looked up again later): %s", exc)
                return released
            envelopes = [self._held.get(i) for i in chunk if i in readable]
            for envelope in sorted((e for e in envelopes if e is not None), key=lambda e: e.time):
                if self.release([envelope.event.event_id]) is not None:
                    released += 1
                await asyncio.sleep(0)  # let the clients' writers flush it, as the feed does
        return released

    def release(self, event_ids: Iterable[str]) -> int | None:
        """Push the held events ``event_ids``, which the read model shows, in the order
        they happened. Returns the clients they were queued for; None when none was held."""
        envelopes = [e for e in (self._held.release(i) for i in event_ids) if e is not None]
        if not envelopes:
            return None
        self._metrics.held.set(len(self._held))
        return sum(self._release(e) for e in sorted(envelopes, key=lambda e: e.time))

    def _release(self, envelope: EventEnvelope) -> int:
        """Push a held event, in a span continuing the one it was consumed in."""
        held_in = self._spans.pop(envelope.event.event_id, None)
        if held_in is None or self._tracer is None:
            return self._push(envelope)
        name, parent = held_in
        with self._tracer.start_as_current_span(
            name,
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={"clearcut.image_id": envelope.event.image_id},
        ) as span:
            recipients = self._push(envelope)
            span.set_attribute("clearcut.notifier.recipients", recipients)
            return recipients

    def _push(self, envelope: EventEnvelope) -> int:
        event = envelope.event
        if isinstance(event, ImageDeleted):
            return self._deleted(envelope, event)
        if not isinstance(event, PUSHED_EVENTS):
            return 0
        notice = notice_for(envelope, event, self._links)
        verdict = self._recent.accept(notice)
        self._metrics.events.labels(type(event).__name__, verdict.value).inc()
        if verdict is not Verdict.ACCEPTED:
            logger.debug("not pushing %s event %s", verdict.value, notice.event_id)
            return 0
        return self._fan_out(notice)

    def _deleted(self, envelope: EventEnvelope, event: ImageDeleted) -> int:
        """Tell the image's subscribers (and its owner's) once, then forget the image: its
        subscriptions end and its later events are never pushed."""
        if not self._recent.forget(event.image_id):
            self._metrics.events.labels(type(event).__name__, Verdict.DUPLICATE.value).inc()
            return 0
        self._metrics.events.labels(type(event).__name__, Verdict.ACCEPTED.value).inc()
        text = server_messages.event(event.image_id, structured(envelope), {})
        sent = 0
        dropped: list[Client] = []
        for client in list(self._routes.recipients(event.image_id, event.owner)):
            state = self._routes.subscriptions(client)
            if state is None or client.owner != event.owner:
                continue
            state.baselines.pop(event.image_id, None)
            if self._routes.remove_image(client, state, event.image_id):
                self._metrics.subscriptions.dec()
            if client.offer(text, kind="event", event_time=event.occurred_at.timestamp()):
                sent += 1
            else:
                dropped.append(client)
        for client in dropped:
            self.unregister(client)
        return sent

    def _fan_out(self, notice: Notice) -> int:
        timestamp = notice.occurred_at.timestamp()
        sent = 0
        dropped: list[Client] = []
        for client in self._routes.recipients(notice.image_id, notice.owner):
            state = self._routes.subscriptions(client)
            if state is None or client.owner != notice.owner:
                continue
            baseline = state.baselines.get(notice.image_id)
            if baseline is not None:
                if covers(baseline, notice):
                    continue
                del state.baselines[notice.image_id]
            if client.offer(notice.text, kind="event", event_time=timestamp):
                sent += 1
            else:
                dropped.append(client)
        for client in dropped:
            self.unregister(client)
        return sent

    # -- subscriptions -------------------------------------------------------------------

    async def subscribe(self, client: Client, request: Subscribe) -> None:
        """Answer ``request`` on the client's queue: one snapshot message, then any errors."""
        state = self._routes.subscriptions(client)
        if state is None:
            return
        if request.all:
            await self._subscribe_all(client, state, request)
        else:
            await self._subscribe_images(client, state, request)

    def unsubscribe(self, client: Client, request: Unsubscribe) -> None:
        state = self._routes.subscriptions(client)
        if state is None:
            return
        removed = sum(
            self._routes.remove_image(client, state, image_id) for image_id in request.images or ()
        )
        if request.all and self._routes.remove_all(client, state):
            removed += 1
        self._metrics.subscriptions.dec(removed)
        client.offer(
            server_messages.unsubscribed(
                request.images or [], all_images=request.all, request_id=request.request_id
            )
        )

    async def _subscribe_images(
        self, client: Client, state: Subscriptions, request: Subscribe
    ) -> None:
        image_ids = list(dict.fromkeys(request.images or ()))
        new = [i for i in image_ids if i not in state.images]
        if state.count + len(new) > self._limits.max_subscriptions:
            self.send_error(
                client,
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"subscribing to {len(new)} more images would exceed the limit of "
                f"{self._limits.max_subscriptions} subscriptions per connection "
                f"({state.count} in use)",
                request_id=request.request_id,
            )
            return
        try:
            found = await self._find(client.owner, image_ids)
        except ReadModelUnavailable as exc:
            self._unavailable(client, request.request_id, exc)
            return
        if self._routes.subscriptions(client) is None:
            return  # disconnected meanwhile
        # From here on nothing awaits: the snapshot and the live stream meet without a gap.
        answered: list[ImageSnapshot] = []
        unknown: list[str] = []
        for image_id in image_ids:
            state_now = self._state(client.owner, found.get(image_id), image_id)
            if state_now is None:
                unknown.append(image_id)
                continue
            answered.append(state_now)
            if self._routes.add_image(client, state, image_id):
                self._metrics.subscriptions.inc()
            state.baselines[image_id] = state_now
        if answered:
            self._send_snapshot(client, answered, scope="images", request_id=request.request_id)
        for image_id in unknown:
            self.send_error(
                client,
                ErrorCode.UNKNOWN_IMAGE,
                f"image {image_id!r} does not exist or does not belong to you",
                request_id=request.request_id,
                image_id=image_id,
            )

    async def _subscribe_all(
        self, client: Client, state: Subscriptions, request: Subscribe
    ) -> None:
        if not state.all and state.count + 1 > self._limits.max_subscriptions:
            self.send_error(
                client,
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"the limit of {self._limits.max_subscriptions} subscriptions per connection "
                "is reached",
                request_id=request.request_id,
            )
            return
        limit = self._limits.snapshot_limit
        try:
            rows = await self._snapshots.owner_images(client.owner, request.since, limit + 1)
        except ReadModelUnavailable as exc:
            self._unavailable(client, request.request_id, exc)
            return
        if self._routes.subscriptions(client) is None:
            return
        truncated = len(rows) > limit
        snapshots = {
            row.image_id: row
            for row in rows[:limit]
            if row.owner == client.owner and not self._recent.is_deleted(row.image_id)
        }
        recent = self._recent.owner_notices(client.owner)
        answered: list[ImageSnapshot] = []
        for image_id, row in snapshots.items():
            state_now = current_state(row, recent.get(image_id, []))
            if state_now is not None:
                answered.append(state_now)
                state.baselines[image_id] = state_now
        for image_id, notices in recent.items():
            state_now = current_state(None, notices)
            if image_id in snapshots or state_now is None:
                continue
            # Known only from recent events (the read model lags): chosen by the same rule.
            if state_now.status in _ACTIVE or (
                request.since is not None and state_now.updated_at >= request.since
            ):
                answered.append(state_now)
                state.baselines[image_id] = state_now
        if len(answered) > limit:
            truncated = True
            for dropped in answered[limit:]:
                state.baselines.pop(dropped.image_id, None)
            answered = answered[:limit]
        if self._routes.add_all(client, state):
            self._metrics.subscriptions.inc()
        self._send_snapshot(
            client, answered, scope="all", request_id=request.request_id, truncated=truncated
        )

    async def _find(self, owner: str, image_ids: list[str]) -> dict[str, ImageSnapshot]:
        """Read-model rows of the ids. An id known to neither the read model nor the recent
        events (an upload not yet projected) is looked up again each time the projector
        announces an applied event of that image, and once more when the grace period
        ends (in case an announcement was missed)."""
        wake = asyncio.Event()
        for image_id in image_ids:  # before the first look-up, so no announcement is missed
            self._waiters.setdefault(image_id, set()).add(wake)
        try:
            found = await self._snapshots.images(image_ids)
            deadline = self._clock() + self._limits.unknown_image_grace_seconds
            while missing := self._missing(image_ids, found):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return found
                try:
                    await asyncio.wait_for(wake.wait(), remaining)
                except TimeoutError:
                    found.update(await self._snapshots.images(missing))
                    return found
                wake.clear()
                found.update(await self._snapshots.images(missing))
            return found
        finally:
            for image_id in image_ids:
                waiting = self._waiters.get(image_id)
                if waiting is not None:
                    waiting.discard(wake)
                    if not waiting:
                        del self._waiters[image_id]

    def _missing(self, image_ids: list[str], found: dict[str, ImageSnapshot]) -> list[str]:
        return [i for i in image_ids if i not in found and not self._recent.notices(i)]

    def _state(self, owner: str, row: ImageSnapshot | None, image_id: str) -> ImageSnapshot | None:
        if row is not None and row.owner != owner:
            return None  # someone else's image: answered exactly like an unknown one
        if self._recent.is_deleted(image_id):
            return None  # deleted, though the read model may not show it yet
        notices = [n for n in self._recent.notices(image_id) if n.owner == owner]
        return current_state(row, notices)

    def _send_snapshot(
        self,
        client: Client,
        images: list[ImageSnapshot],
        *,
        scope: str,
        request_id: str | None,
        truncated: bool = False,
    ) -> None:
        text = server_messages.snapshot(
            [image.to_json(self._links) for image in images],
            scope=scope,
            request_id=request_id,
            truncated=truncated,
        )
        if not client.offer(text, kind="snapshot"):
            self.unregister(client)

    def _unavailable(self, client: Client, request_id: str | None, exc: Exception) -> None:
        logger.warning("read model unavailable for a subscription: %s", exc)
        self.send_error(
            client,
            ErrorCode.UNAVAILABLE,
            "image states cannot be read right now; subscribe again shortly",
            request_id=request_id,
        )

    def send_error(
        self,
        client: Client,
        code: ErrorCode,
        message: str,
        *,
        request_id: str | None = None,
        image_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self._metrics.client_errors.labels(code.value).inc()
        text = server_messages.error(
            code, message, request_id=request_id, image_id=image_id, field=field
        )
        if not client.offer(text):
            self.unregister(client)
