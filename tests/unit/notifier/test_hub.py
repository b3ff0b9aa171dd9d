"""The hub's routing, catch-up and limits, with fake clients and a fake read model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from services.common.envelope import EventEnvelope
from services.notifier.domain.client_messages import Subscribe, Unsubscribe
from services.notifier.domain.held import HeldEvents
from services.notifier.domain.links import Links
from services.notifier.domain.progress import Status
from services.notifier.domain.recent import RecentEvents
from services.notifier.domain.snapshot import ImageSnapshot
from services.notifier.hub import Hub, Limits
from services.notifier.metrics import NotifierMetrics
from services.notifier.ports import ReadModelUnavailable
from tests.unit.notifier import factory as ev


class FakeClient:
    def __init__(self, owner: str, capacity: int = 100) -> None:
        self.owner = owner
        self.capacity = capacity
        self.messages: list[dict[str, Any]] = []
        self.dropped = False

    def offer(self, text: str, *, kind: str = "control", event_time: float | None = None) -> bool:
        if len(self.messages) >= self.capacity:
            self.dropped = True
            return False
        self.messages.append(json.loads(text))
        return True

    def types(self) -> list[str]:
        return [m["type"] if m["type"] != "event" else m["event"]["type"] for m in self.messages]


class FakeReadModel:
    def __init__(self) -> None:
        self.rows: dict[str, ImageSnapshot] = {}
        self.applied_ids: set[str] = set()
        self.down = False
        self.during_read: list[Any] = []  # callables run while "awaiting" the database

    async def images(self, image_ids: Sequence[str]) -> dict[str, ImageSnapshot]:
        await self._io()
        return {i: self.rows[i] for i in image_ids if i in self.rows}

    async def owner_images(
        self, owner: str, since: datetime | None, limit: int
    ) -> list[ImageSnapshot]:
        await self._io()
        rows = [
            r
            for r in self.rows.values()
            if r.owner == owner
            and (
                r.status in (Status.QUEUED, Status.PROCESSING) or (since and r.updated_at >= since)
            )
        ]
        return rows[:limit]

    async def readable(self, event_ids: Sequence[str]) -> set[str]:
        await self._io()
        return {i for i in event_ids if i in self.applied_ids}

    async def _io(self) -> None:
        if self.down:
            raise ReadModelUnavailable("connection refused")
        await asyncio.sleep(0)
        for action in self.during_read:
            action()
        self.during_read = []


def row(image_id: str, owner: str = "alice", status: Status = Status.PROCESSING) -> ImageSnapshot:
    return ImageSnapshot(
        image_id=image_id,
        owner=owner,
        status=status,
        task_id="task-1",
        attempt=1 if status is not Status.QUEUED else 0,
        updated_at=ev.T0,
        task_requested_at=ev.T0,
    )


def make_hub(
    read_model: FakeReadModel,
    *,
    max_subscriptions: int = 10,
    max_connections_per_owner: int = 3,
    unknown_image_grace_seconds: float = 0.0,
    held: HeldEvents | None = None,
    metrics: NotifierMetrics | None = None,
) -> Hub:
    return Hub(
        read_model,
        RecentEvents(max_images=100, max_age_seconds=60),
        held if held is not None else HeldEvents(max_events=100),
        Links("http://up"),
        Limits(
            max_subscriptions=max_subscriptions,
            max_connections_per_owner=max_connections_per_owner,
            snapshot_limit=50,
            unknown_image_grace_seconds=unknown_image_grace_seconds,
            held_check_seconds=2.0,
        ),
        metrics or NotifierMetrics(CollectorRegistry()),
    )


def push(hub: Hub, envelope: EventEnvelope) -> int:
    """Consume an event and release it as the read model shows it; the clients it was
    queued for."""
    assert hub.publish(envelope) == 0
    return hub.release([envelope.event.event_id]) or 0


def subscribe(*images: str, request_id: str | None = None) -> Subscribe:
    return Subscribe(type="subscribe", images=list(images), request_id=request_id)


async def test_events_reach_only_subscribers_of_the_image_and_of_its_owner() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img")
    hub = make_hub(read_model)
    by_image, by_owner, other_image, other_owner = (
        FakeClient("alice"),
        FakeClient("alice"),
        FakeClient("alice"),
        FakeClient("bob"),
    )
    for client in (by_image, by_owner, other_image, other_owner):
        assert hub.register(client)
    await hub.subscribe(by_image, subscribe("img", request_id="r1"))
    await hub.subscribe(by_owner, Subscribe(type="subscribe", all=True))
    await hub.subscribe(other_owner, Subscribe(type="subscribe", all=True))
    assert by_image.messages[0]["type"] == "snapshot"
    assert by_image.messages[0]["request_id"] == "r1"
    assert [i["status"] for i in by_owner.messages[0]["images"]] == ["processing"]

    assert push(hub, ev.envelope(ev.completed("img"))) == 2
    assert by_image.types()[-1] == "io.clearcut.image.processing.completed.v1"
    assert by_owner.types()[-1] == "io.clearcut.image.processing.completed.v1"
    assert other_image.messages == []
    assert other_owner.types() == ["snapshot"]


async def test_a_client_subscribed_twice_over_gets_each_event_once() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img")
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("img"))
    await hub.subscribe(client, Subscribe(type="subscribe", all=True))
    assert push(hub, ev.envelope(ev.completed("img"))) == 1


async def test_an_event_during_the_snapshot_read_is_in_the_snapshot() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img", status=Status.PROCESSING)  # the projector lags
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    done = ev.completed("img")
    read_model.during_read.append(lambda: push(hub, ev.envelope(done)))
    await hub.subscribe(client, subscribe("img"))
    assert client.types() == ["snapshot"]
    (image,) = client.messages[0]["images"]
    assert image["status"] == "completed"
    assert image["links"]["cutout"] == "http://up/v1/images/img/result?kind=cutout"
    # Neither that event nor a duplicate of it is sent again.
    assert push(hub, ev.envelope(done)) == 0


async def test_events_the_snapshot_already_tells_are_not_repeated() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img", status=Status.COMPLETED)  # projector ahead
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("img"))
    assert push(hub, ev.envelope(ev.started("img"))) == 0
    assert push(hub, ev.envelope(ev.completed("img"))) == 0
    assert client.types() == ["snapshot"]
    # A new task of the image is news.
    assert push(hub, ev.envelope(ev.started("img", task_id="task-2", at=9))) == 1


async def test_an_image_only_the_recent_events_know_gets_a_snapshot_from_them() -> None:
    hub = make_hub(FakeReadModel())
    push(hub, ev.envelope(ev.started("new")))
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("new"))
    assert client.messages[0]["images"][0]["status"] == "processing"


async def test_unknown_and_foreign_images_get_the_same_error_and_no_subscription() -> None:
    read_model = FakeReadModel()
    read_model.rows["bobs"] = row("bobs", owner="bob")
    read_model.rows["mine"] = row("mine")
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("mine", "bobs", "nowhere", request_id="r2"))
    snapshot, *errors = client.messages
    assert [i["image_id"] for i in snapshot["images"]] == ["mine"]
    assert [(e["code"], e["image_id"], e["request_id"]) for e in errors] == [
        ("unknown_image", "bobs", "r2"),
        ("unknown_image", "nowhere", "r2"),
    ]
    assert errors[0]["message"] == "image 'bobs' does not exist or does not belong to you"
    assert push(hub, ev.envelope(ev.completed("bobs", owner="bob"))) == 0


async def test_an_image_that_appears_within_the_grace_period_is_subscribed() -> None:
    read_model = FakeReadModel()
    hub = make_hub(read_model, unknown_image_grace_seconds=5.0)
    client = FakeClient("alice")
    hub.register(client)

    def projector_catches_up() -> None:
        read_model.rows["late"] = row("late", status=Status.QUEUED)

    read_model.during_read.append(projector_catches_up)
    await hub.subscribe(client, subscribe("late"))
    assert client.messages[0]["images"][0]["status"] == "queued"


async def test_limits_on_connections_and_subscriptions() -> None:
    read_model = FakeReadModel()
    for name in "abc":
        read_model.rows[name] = row(name)
    hub = make_hub(read_model, max_subscriptions=2, max_connections_per_owner=1)
    client = FakeClient("alice")
    assert hub.register(client)
    assert not hub.register(FakeClient("alice"))
    assert hub.register(FakeClient("bob"))
    await hub.subscribe(client, subscribe("a", "b", "c"))
    assert client.messages[-1]["code"] == "too_many_subscriptions"
    assert "limit of 2" in client.messages[-1]["message"]
    await hub.subscribe(client, subscribe("a", "b"))
    assert client.messages[-1]["type"] == "snapshot"
    hub.unsubscribe(client, Unsubscribe(type="unsubscribe", images=["a"]))
    assert client.messages[-1] == {"type": "unsubscribed", "images": ["a"], "all": False}
    await hub.subscribe(client, subscribe("c"))
    assert client.messages[-1]["type"] == "snapshot"
    hub.unregister(client)
    assert hub.register(FakeClient("alice"))


async def test_a_client_whose_queue_is_full_is_dropped_and_others_still_get_events() -> None:
    read_model = FakeReadModel()
    hub = make_hub(read_model)
    slow, fast = FakeClient("alice", capacity=2), FakeClient("alice", capacity=100)
    for client in (slow, fast):
        hub.register(client)
        await hub.subscribe(client, Subscribe(type="subscribe", all=True))
    for n in range(5):
        push(hub, ev.envelope(ev.started(f"img-{n}")))
    assert slow.dropped and len(slow.messages) == 2
    assert len(fast.messages) == 6
    assert slow not in hub.clients


async def test_an_unreachable_read_model_is_an_error_without_subscription() -> None:
    read_model = FakeReadModel()
    read_model.down = True
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("img"))
    assert client.messages[-1]["code"] == "unavailable"
    await hub.subscribe(client, Subscribe(type="subscribe", all=True))
    assert client.messages[-1]["code"] == "unavailable"
    assert push(hub, ev.envelope(ev.started("img"))) == 0


async def test_all_with_since_includes_recent_finished_images() -> None:
    read_model = FakeReadModel()
    read_model.rows["done"] = row("done", status=Status.COMPLETED)
    read_model.rows["busy"] = row("busy", status=Status.PROCESSING)
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, Subscribe(type="subscribe", all=True))
    assert [i["image_id"] for i in client.messages[-1]["images"]] == ["busy"]
    assert client.messages[-1]["truncated"] is False
    await hub.subscribe(client, Subscribe(type="subscribe", all=True, since=ev.T0))
    assert {i["image_id"] for i in client.messages[-1]["images"]} == {"done", "busy"}


async def test_all_merges_recent_events_and_adds_images_the_read_model_lacks() -> None:
    read_model = FakeReadModel()
    read_model.rows["lagging"] = row("lagging", status=Status.PROCESSING)
    hub = make_hub(read_model)
    push(hub, ev.envelope(ev.completed("lagging", at=5)))
    push(hub, ev.envelope(ev.started("unprojected", at=6)))
    push(hub, ev.envelope(ev.completed("finished", at=7)))
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, Subscribe(type="subscribe", all=True))
    states = {i["image_id"]: i["status"] for i in client.messages[-1]["images"]}
    assert states == {"lagging": "completed", "unprojected": "processing"}
    since = ev.T0.replace(second=7)
    await hub.subscribe(client, Subscribe(type="subscribe", all=True, since=since))
    states = {i["image_id"]: i["status"] for i in client.messages[-1]["images"]}
    assert states == {"lagging": "completed", "unprojected": "processing", "finished": "completed"}


async def test_a_deletion_is_told_once_then_the_image_is_forgotten() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img")
    hub = make_hub(read_model)
    by_image, by_owner, other_owner = FakeClient("alice"), FakeClient("alice"), FakeClient("bob")
    for client in (by_image, by_owner, other_owner):
        assert hub.register(client)
    await hub.subscribe(by_image, subscribe("img"))
    await hub.subscribe(by_owner, Subscribe(type="subscribe", all=True))
    await hub.subscribe(other_owner, Subscribe(type="subscribe", all=True))
    push(hub, ev.envelope(ev.started("img", at=1)))

    deletion = ev.deleted("img")
    assert push(hub, ev.envelope(deletion)) == 2
    told = by_image.messages[-1]
    assert told["image_id"] == "img" and told["event"]["type"] == "io.clearcut.image.deleted.v1"
    assert told["event"]["data"]["deleted_by"] == "alice"
    assert by_owner.types()[-1] == "io.clearcut.image.deleted.v1"
    assert other_owner.types() == ["snapshot"]

    # Forgotten: a re-delivery and the image's later events reach no one.
    assert push(hub, ev.envelope(deletion)) == 0
    assert push(hub, ev.envelope(ev.completed("img", at=9))) == 0
    assert by_image.types()[-1] == by_owner.types()[-1] == "io.clearcut.image.deleted.v1"
    # The image subscription ended; the owner-wide one goes on for other images.
    read_model.rows["img-2"] = row("img-2")
    assert push(hub, ev.envelope(ev.completed("img-2"))) == 1
    assert by_owner.types()[-1] == "io.clearcut.image.processing.completed.v1"


async def test_an_event_is_held_until_the_read_model_shows_it() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img")
    registry = CollectorRegistry()
    hub = make_hub(read_model, metrics=NotifierMetrics(registry))
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("img"))
    completed = ev.envelope(ev.completed("img"))
    event_id = completed.event.event_id
    assert hub.publish(completed) == 0
    assert registry.get_sample_value("notifier_held_events") == 1
    # Announced, but the read model does not show it (yet): still held.
    hub.applied(event_id, "img")
    assert await hub.look_up_pending() == 0
    assert client.types() == ["snapshot"]
    read_model.applied_ids.add(event_id)
    hub.applied(event_id, "img")
    assert await hub.look_up_pending() == 1
    assert client.types() == ["snapshot", "io.clearcut.image.processing.completed.v1"]
    assert registry.get_sample_value("notifier_held_events") == 0
    # Announced again (a second projector replica): pushed once only.
    hub.applied(event_id, "img")
    assert await hub.look_up_pending() == 0
    assert len(client.messages) == 2


async def test_an_event_announced_before_it_is_consumed_is_looked_up_when_it_comes() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img")
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("img"))
    completed = ev.envelope(ev.completed("img"))
    read_model.applied_ids.add(completed.event.event_id)
    hub.applied(completed.event.event_id, "img")
    assert await hub.look_up_pending() == 0
    hub.publish(completed)
    assert await hub.look_up_pending() == 1
    assert client.types()[-1] == "io.clearcut.image.processing.completed.v1"


async def test_a_completion_applied_before_its_upload_waits_for_the_upload() -> None:
    read_model = FakeReadModel()
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, Subscribe(type="subscribe", all=True))
    completed = ev.envelope(ev.completed("img"))
    hub.publish(completed)
    hub.applied(completed.event.event_id, "img")  # applied, but no image row yet
    assert await hub.look_up_pending() == 0
    # The upload is applied: its announcement looks up every held event of the image.
    read_model.rows["img"] = row("img")
    read_model.applied_ids.add(completed.event.event_id)
    hub.applied("5b0e4c8a-0000-4000-8000-000000000001", "img")
    assert await hub.look_up_pending() == 1
    assert client.types()[-1] == "io.clearcut.image.processing.completed.v1"


async def test_a_missed_announcement_is_made_up_by_the_applied_events_view() -> None:
    now = [100.0]
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img", status=Status.QUEUED)
    hub = make_hub(read_model, held=HeldEvents(max_events=100, clock=lambda: now[0]))
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("img"))
    started, completed = ev.envelope(ev.started("img")), ev.envelope(ev.completed("img"))
    hub.publish(completed)
    hub.publish(started)
    read_model.applied_ids = {completed.event.event_id, started.event.event_id}
    # Not held long enough to be looked up yet: the announcement may still come.
    assert await hub.check_held() == 0
    now[0] += 2.5
    assert await hub.check_held() == 2
    # Pushed in the order they happened; the forward-only rule still applies.
    assert client.types() == [
        "snapshot",
        "io.clearcut.image.processing.started.v1",
        "io.clearcut.image.processing.completed.v1",
    ]


async def test_after_a_reconnect_every_held_event_is_looked_up() -> None:
    read_model = FakeReadModel()
    read_model.rows["img"] = row("img", status=Status.QUEUED)
    hub = make_hub(read_model)
    client = FakeClient("alice")
    hub.register(client)
    await hub.subscribe(client, subscribe("img"))
    applied, pending = ev.envelope(ev.started("img")), ev.envelope(ev.completed("img"))
    hub.publish(applied)
    hub.publish(pending)
    read_model.applied_ids = {applied.event.event_id}
    assert await hub.check_held(everything=True) == 1
    assert client.types()[-1] == "io.clearcut.image.processing.started.v1"
    read_model.down = True
    assert await hub.check_held(everything=True) == 0  # unreachable: still held, no error
    read_model.down = False
    read_model.applied_ids.add(pending.event.event_id)
    assert await hub.check_held(everything=True) == 1
    assert client.types()[-1] == "io.clearcut.image.processing.completed.v1"


async def test_past_the_most_held_events_the_oldest_is_dropped_and_counted() -> None:
    registry = CollectorRegistry()
    hub = make_hub(
        FakeReadModel(), held=HeldEvents(max_events=2), metrics=NotifierMetrics(registry)
    )
    first, *others = [ev.envelope(ev.completed(f"img-{n}")) for n in range(3)]
    for envelope in (first, *others):
        hub.publish(envelope)
    assert registry.get_sample_value("notifier_held_events") == 2
    assert registry.get_sample_value("notifier_held_dropped_total") == 1
    assert hub.release([first.event.event_id]) is None


async def test_an_unknown_image_is_answered_when_its_upload_is_announced_not_polled() -> None:
    read_model = FakeReadModel()
    hub = make_hub(read_model, unknown_image_grace_seconds=30.0)
    client = FakeClient("alice")
    hub.register(client)
    task = asyncio.create_task(hub.subscribe(client, subscribe("late")))
    for _ in range(5):
        await asyncio.sleep(0)
    reads: list[str] = []
    read_model.during_read.append(lambda: reads.append("read"))
    assert client.messages == [] and reads == []  # waiting, not asking again
    read_model.rows["late"] = row("late", status=Status.QUEUED)
    hub.applied("8f0c1c9e-0000-4000-8000-000000000001", "late")
    await asyncio.wait_for(task, 1.0)
    assert client.messages[0]["images"][0]["status"] == "queued"
    assert reads == ["read"]
