"""The events held until the read model shows them: pure, with an injected clock."""

from __future__ import annotations

from services.notifier.domain.held import HeldEvents
from tests.unit.notifier import factory as ev


def test_a_held_event_is_released_once() -> None:
    held = HeldEvents(max_events=10)
    envelope = ev.envelope(ev.completed("img"))
    assert held.hold(envelope) == (False, [])
    assert len(held) == 1 and held.get(envelope.event.event_id) is envelope
    assert held.release(envelope.event.event_id) is envelope
    assert len(held) == 0
    assert held.release(envelope.event.event_id) is None


def test_an_announcement_names_every_held_event_of_its_image() -> None:
    held = HeldEvents(max_events=10)
    started, completed = ev.envelope(ev.started("img")), ev.envelope(ev.completed("img"))
    other = ev.envelope(ev.completed("other"))
    for envelope in (started, completed, other):
        held.hold(envelope)
    assert held.announced("upload-of-img", "img") == sorted(
        [started.event.event_id, completed.event.event_id]
    )
    held.release(started.event.event_id)
    assert held.announced(completed.event.event_id, "img") == [completed.event.event_id]
    assert held.announced("x", "nothing-held") == []


def test_an_announcement_before_the_event_is_remembered_once() -> None:
    held = HeldEvents(max_events=10)
    envelope = ev.envelope(ev.started("img"))
    assert held.announced(envelope.event.event_id, "img") == []
    assert held.hold(envelope) == (True, [])
    held.release(envelope.event.event_id)
    assert held.hold(envelope) == (False, [])


def test_events_are_due_for_a_look_up_after_the_bound_and_again_after_each_look_up() -> None:
    now = [0.0]
    held = HeldEvents(max_events=10, clock=lambda: now[0])
    first, second = ev.envelope(ev.started("a")), ev.envelope(ev.started("b"))
    held.hold(first)
    now[0] = 1.0
    held.hold(second)
    assert held.due(2.0) == []
    now[0] = 2.5
    assert held.due(2.0) == [first.event.event_id]
    assert held.due(2.0) == []  # just looked up
    now[0] = 3.5
    assert held.due(2.0) == [second.event.event_id]
    assert held.ids() == [first.event.event_id, second.event.event_id]


def test_the_number_held_and_remembered_is_bounded() -> None:
    held = HeldEvents(max_events=2)
    envelopes = [ev.envelope(ev.completed(f"img-{n}")) for n in range(3)]
    assert held.hold(envelopes[0]) == (False, [])
    assert held.hold(envelopes[1]) == (False, [])
    assert held.hold(envelopes[2]) == (False, [envelopes[0]])
    assert held.announced("anything", "img-0") == []  # dropped, image index too
    announced = [ev.envelope(ev.started(f"other-{n}")) for n in range(3)]
    for envelope in announced:
        held.announced(envelope.event.event_id, envelope.event.image_id)
    assert held.hold(announced[2])[0] is True
    assert held.hold(announced[0])[0] is False  # only the last two were remembered
