from __future__ import annotations

from services.notifier.domain.links import Links
from services.notifier.domain.notice import Notice, notice_for
from services.notifier.domain.progress import PushedEvent
from services.notifier.domain.recent import RecentEvents, Verdict
from tests.unit.notifier import factory as ev

LINKS = Links("http://upload")


def notice(event: PushedEvent) -> Notice:
    return notice_for(ev.envelope(event), event, LINKS)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_only_events_that_move_a_task_forward_are_accepted() -> None:
    recent = RecentEvents(max_images=10, max_age_seconds=60)
    started, done = notice(ev.started("img")), notice(ev.completed("img"))
    assert recent.accept(started) is Verdict.ACCEPTED
    assert recent.accept(started) is Verdict.DUPLICATE
    assert recent.accept(done) is Verdict.ACCEPTED
    late_started = notice(ev.started("img"))
    assert recent.accept(late_started) is Verdict.STALE
    # Another task of the same image is judged on its own.
    assert recent.accept(notice(ev.started("img", task_id="task-2"))) is Verdict.ACCEPTED
    assert [n.event_id for n in recent.notices("img")][:2] == [started.event_id, done.event_id]


def test_completed_before_started_keeps_the_image_completed() -> None:
    recent = RecentEvents(max_images=10, max_age_seconds=60)
    assert recent.accept(notice(ev.completed("img"))) is Verdict.ACCEPTED
    assert recent.accept(notice(ev.started("img"))) is Verdict.STALE
    assert recent.accept(notice(ev.started("img", attempt=2))) is Verdict.STALE
    assert recent.accept(notice(ev.completed("img", attempt=2))) is Verdict.ACCEPTED


def test_a_retry_after_a_failure_is_accepted() -> None:
    recent = RecentEvents(max_images=10, max_age_seconds=60)
    assert recent.accept(notice(ev.failed("img"))) is Verdict.ACCEPTED
    assert recent.accept(notice(ev.started("img", attempt=2))) is Verdict.ACCEPTED


def test_old_and_excess_images_are_forgotten() -> None:
    clock = Clock()
    recent = RecentEvents(max_images=2, max_age_seconds=10, clock=clock)
    recent.accept(notice(ev.started("a")))
    recent.accept(notice(ev.started("b")))
    recent.accept(notice(ev.started("c")))
    assert recent.notices("a") == [] and len(recent) == 2
    clock.now = 11
    assert recent.notices("b") == []
    recent.accept(notice(ev.started("d")))
    assert len(recent) == 1
    assert list(recent.owner_notices("alice")) == ["d"]


def test_owner_notices_are_scoped_by_owner() -> None:
    recent = RecentEvents(max_images=10, max_age_seconds=60)
    recent.accept(notice(ev.started("a", "alice", at=1)))
    recent.accept(notice(ev.completed("a", "alice", at=5)))
    recent.accept(notice(ev.started("b", "bob", at=1)))
    assert [n.event.occurred_at.second for n in recent.owner_notices("alice")["a"]] == [1, 5]
    assert set(recent.owner_notices("bob")) == {"b"}
    assert recent.owner_notices("carol") == {}
