from __future__ import annotations

import itertools

from schemas import TaskEvent
from services.upload.domain.progress import ImageStatus, Progress, TaskStatus, supersedes
from services.upload.domain.projection import ImageState, TaskState, apply_to_image, apply_to_task
from tests.unit.upload import events as ev

IMAGE, TASK = "img-1", "task-1"


def project(sequence: list[TaskEvent]) -> tuple[ImageState | None, dict[str, TaskState]]:
    image: ImageState | None = None
    tasks: dict[str, TaskState] = {}
    for event in sequence:
        task = apply_to_task(tasks.get(event.task_id), event)
        tasks[task.id] = task
        image = apply_to_image(image, event, task)
    return image, tasks


def test_any_arrival_order_gives_the_same_rows() -> None:
    life: list[TaskEvent] = [
        ev.uploaded(IMAGE, TASK),
        ev.started(IMAGE, TASK),
        ev.completed(IMAGE, TASK),
        ev.downloaded(IMAGE, TASK),
    ]
    outcomes = {repr(project(list(order))) for order in itertools.permutations(life)}
    assert len(outcomes) == 1
    image, tasks = project(life)
    assert image is not None and image.status is ImageStatus.COMPLETED
    task = tasks[TASK]
    assert task.status is TaskStatus.COMPLETED
    assert task.started_at == life[1].occurred_at
    assert task.finished_at == life[2].occurred_at
    assert task.downloads == 1
    assert task.results and {r["kind"] for r in task.results} == {"cutout", "mask"}
    # The requested shape and the subject's box the processor found are recorded.
    assert task.requested_shape == {
        "crop": True,
        "crop_margin": "10px 10px 10px 10px",
        "channels": "rgba",
        "size": "medium",
    }
    assert task.foreground == {"top": 212, "left": 301, "width": 598, "height": 1388}


def test_completed_before_started_ends_completed() -> None:
    image, tasks = project(
        [ev.uploaded(IMAGE, TASK), ev.completed(IMAGE, TASK), ev.started(IMAGE, TASK)]
    )
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert tasks[TASK].status is TaskStatus.COMPLETED
    assert tasks[TASK].started_at is not None


def test_a_retry_after_a_retriable_failure_is_processing_again_then_completes() -> None:
    life: list[TaskEvent] = [
        ev.uploaded(IMAGE, TASK),
        ev.started(IMAGE, TASK, attempt=1),
        ev.failed(IMAGE, TASK, at=2, attempt=1),
    ]
    image, tasks = project(life)
    assert image is not None and image.status is ImageStatus.FAILED
    assert tasks[TASK].error_reason is not None
    life.append(ev.started(IMAGE, TASK, at=3, attempt=2))
    image, tasks = project(life)
    assert image is not None and image.status is ImageStatus.PROCESSING
    assert tasks[TASK].error_reason is None and tasks[TASK].attempt == 2
    life.append(ev.completed(IMAGE, TASK, at=4, attempt=2))
    image, _ = project(life)
    assert image is not None and image.status is ImageStatus.COMPLETED


def test_a_late_failure_of_an_earlier_attempt_never_undoes_completion() -> None:
    image, tasks = project(
        [
            ev.uploaded(IMAGE, TASK),
            ev.completed(IMAGE, TASK, attempt=1),
            ev.failed(IMAGE, TASK, attempt=2),
            ev.started(IMAGE, TASK, attempt=3),
        ]
    )
    assert image is not None and image.status is ImageStatus.COMPLETED
    assert tasks[TASK].error_reason is None


def test_reprocessing_adds_a_task_and_makes_it_current_keeping_history() -> None:
    first: list[TaskEvent] = [
        ev.uploaded(IMAGE, TASK),
        ev.started(IMAGE, TASK),
        ev.completed(IMAGE, TASK),
    ]
    redo = ev.uploaded(IMAGE, "task-2", at=100, replay=True)
    image, tasks = project([*first, redo])
    assert image is not None
    assert image.current_task_id == "task-2"
    assert image.status is ImageStatus.QUEUED
    assert image.uploaded_at == first[0].occurred_at
    assert tasks[TASK].status is TaskStatus.COMPLETED
    assert tasks["task-2"].reprocessing is not None
    # The replay applied before the original upload still ends with the same rows.
    assert project([redo, *first]) == (image, tasks)


def test_events_before_the_upload_create_no_image_but_keep_the_task() -> None:
    image, tasks = project([ev.started(IMAGE, TASK)])
    assert image is None
    assert tasks[TASK].status is TaskStatus.PROCESSING
    assert tasks[TASK].requested_at is None


def test_supersedes_orders_attempts_and_statuses() -> None:
    pending = Progress(TaskStatus.PENDING, 0)
    processing1 = Progress(TaskStatus.PROCESSING, 1)
    failed1 = Progress(TaskStatus.FAILED, 1)
    processing2 = Progress(TaskStatus.PROCESSING, 2)
    completed1 = Progress(TaskStatus.COMPLETED, 1)
    assert supersedes(pending, None)
    assert supersedes(processing1, pending)
    assert supersedes(failed1, processing1)
    assert not supersedes(processing1, failed1)
    assert supersedes(processing2, failed1)
    assert supersedes(completed1, processing2)
    assert not supersedes(processing2, completed1)
    assert not supersedes(completed1, completed1)
