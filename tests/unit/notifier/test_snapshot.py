from __future__ import annotations

from datetime import timedelta

from services.notifier.domain.links import Links
from services.notifier.domain.notice import Notice, notice_for
from services.notifier.domain.progress import PushedEvent, Status
from services.notifier.domain.snapshot import (
    ErrorInfo,
    ImageSnapshot,
    ResultInfo,
    covers,
    current_state,
    snapshot_from_event,
)
from tests.unit.notifier import factory as ev

LINKS = Links("http://upload.example/")


def notice(event: PushedEvent) -> Notice:
    return notice_for(ev.envelope(event), event, LINKS)


def row(status: Status, *, attempt: int = 1, task_id: str = "task-1") -> ImageSnapshot:
    return ImageSnapshot(
        image_id="img",
        owner="alice",
        status=status,
        task_id=task_id,
        attempt=attempt,
        updated_at=ev.T0,
        task_requested_at=ev.T0,
        results=(
            ResultInfo("cutout", "image/png", 4, 3, 10),
            ResultInfo("mask", "image/png", 4, 3, 5),
        ),
        error=ErrorInfo("model_error", "boom", False),
    )


def test_a_snapshot_covers_what_it_already_tells() -> None:
    processing = row(Status.PROCESSING)
    assert covers(processing, notice(ev.started("img")))
    assert not covers(processing, notice(ev.completed("img")))
    assert covers(row(Status.COMPLETED), notice(ev.started("img")))
    assert covers(row(Status.COMPLETED), notice(ev.completed("img")))
    # A retry is news even after a failure.
    assert not covers(row(Status.FAILED), notice(ev.started("img", attempt=2)))
    assert not covers(row(Status.QUEUED, attempt=0), notice(ev.started("img")))


def test_events_of_other_tasks_are_covered_only_when_older_than_the_current_task() -> None:
    current = row(Status.QUEUED, attempt=0, task_id="task-2")
    assert covers(current, notice(ev.completed("img", task_id="task-1", at=-5)))
    assert not covers(current, notice(ev.started("img", task_id="task-3", at=5)))


def test_the_current_state_includes_what_the_read_model_has_not_applied_yet() -> None:
    started, done = notice(ev.started("img")), notice(ev.completed("img", at=9))
    state = current_state(row(Status.PROCESSING), [started, done])
    assert state is not None
    assert state.status is Status.COMPLETED
    assert {r.kind for r in state.results} == {"cutout", "mask"}
    assert state.task_requested_at == ev.T0  # still known from the row
    assert state.updated_at == done.occurred_at
    assert current_state(row(Status.COMPLETED), [started, done]) == row(Status.COMPLETED)


def test_a_newer_task_in_the_recent_events_replaces_the_rows_task() -> None:
    newer = notice(ev.started("img", task_id="task-2", at=30))
    state = current_state(row(Status.COMPLETED), [newer])
    assert state is not None
    assert (state.task_id, state.status, state.results) == ("task-2", Status.PROCESSING, ())


def test_without_a_row_the_latest_event_tells_the_state_and_without_anything_it_is_unknown() -> (
    None
):
    state = current_state(None, [notice(ev.started("img")), notice(ev.completed("img"))])
    assert state is not None
    assert state.status is Status.COMPLETED
    assert state.task_id == "task-1"
    assert current_state(None, []) is None


def test_snapshot_json_has_result_links_only_when_completed() -> None:
    done = row(Status.COMPLETED).to_json(LINKS)
    assert done["status"] == "completed"
    assert done["links"] == {
        "status": "http://upload.example/v1/images/img",
        "cutout": "http://upload.example/v1/images/img/result?kind=cutout",
        "mask": "http://upload.example/v1/images/img/result?kind=mask",
    }
    assert [r["url"] for r in done["results"]] == [done["links"]["cutout"], done["links"]["mask"]]
    assert done["error"] is None
    assert done["updated_at"].endswith("Z")
    processing = row(Status.PROCESSING).to_json(LINKS)
    assert processing["results"] == [] and set(processing["links"]) == {"status"}
    failed = row(Status.FAILED).to_json(LINKS)
    assert failed["error"] == {"reason": "model_error", "message": "boom", "retriable": False}


def test_snapshot_from_a_failure_carries_the_reason() -> None:
    event = ev.failed("img", at=3)
    snapshot = snapshot_from_event(event)
    assert snapshot.status is Status.FAILED
    assert snapshot.error is not None and snapshot.error.reason == event.reason.value
    assert snapshot.updated_at == ev.T0 + timedelta(seconds=3)
