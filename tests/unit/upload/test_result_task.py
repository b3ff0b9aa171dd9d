"""Which task's result an image serves while it is being reprocessed."""

from __future__ import annotations

from schemas import TaskEvent
from services.upload.domain.projection import TaskState, apply_to_image, apply_to_task
from services.upload.images import ImageRecord
from tests.unit.upload import events as ev


def result_of(*events: TaskEvent) -> str | None:
    """The id of the task whose result the image serves after ``events``."""
    image = None
    tasks: dict[str, TaskState] = {}
    for event in events:
        task = apply_to_task(tasks.get(event.task_id), event)
        tasks[task.id] = task
        image = apply_to_image(image, event, task) or image
    assert image is not None
    ordered = sorted(tasks.values(), key=lambda t: (t.requested_at or t.created_at, t.id))
    chosen = ImageRecord(image, ordered).result_task
    return None if chosen is None else chosen.id


def test_the_previous_result_is_served_until_the_reprocessing_completes() -> None:
    upload, done = ev.uploaded("img", "t1"), ev.completed("img", "t1")
    redo = ev.uploaded("img", "t2", at=60, replay=True)
    assert result_of(upload, done) == "t1"
    assert result_of(upload, done, redo) == "t1"
    assert result_of(upload, done, redo, ev.failed("img", "t2", at=61, retriable=False)) == "t1"
    assert result_of(upload, done, redo, ev.completed("img", "t2", at=62)) == "t2"


def test_nothing_is_served_before_any_task_completed() -> None:
    assert result_of(ev.uploaded("img", "t1"), ev.started("img", "t1")) is None
