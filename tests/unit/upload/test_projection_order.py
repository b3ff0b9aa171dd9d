"""The projection gives the same rows whatever order an image's events are applied in: the
property a rebuild from the topics relies on to reproduce the live read model."""

from __future__ import annotations

import random

import pytest

from schemas import Event
from services.upload.domain.projection import Deletion, ImageState, TaskState, apply_event
from tests.unit.upload.histories import KINDS, image_life


def project(
    events: list[Event],
) -> tuple[ImageState | None, dict[str, TaskState], Deletion | None]:
    image: ImageState | None = None
    deletion: Deletion | None = None
    tasks: dict[str, TaskState] = {}
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        after = apply_event(image, deletion, tasks, event)
        image, deletion = after.image, after.deletion
        tasks.update(after.tasks)
    return image, tasks, deletion


@pytest.mark.parametrize("kind", range(KINDS))
def test_every_order_of_an_images_events_gives_the_same_rows(kind: int) -> None:
    life = image_life("alice", kind)
    expected = project(life)
    rng = random.Random(kind)
    for _ in range(300):
        shuffled = rng.sample(life, len(life))
        shuffled += rng.choices(life, k=2)  # re-deliveries
        assert project(shuffled) == expected, [type(e).__name__ for e in shuffled]


def test_a_deleted_image_and_every_task_of_it_stay_deleted_with_audit_fields() -> None:
    image, tasks, deletion = project(image_life("alice", 7))
    assert image is not None and image.deleted and deletion is not None
    assert (image.deleted_at, image.deleted_by) == (deletion.deleted_at, "alice")
    assert image.created_by == "alice"
    assert image.updated_by == "operator", "the latest act: the operator's replay at 60 s"
    assert len(tasks) == 2 and all(t.deleted and t.deleted_by == "alice" for t in tasks.values())
    redo = next(t for t in tasks.values() if t.reprocessing is not None)
    assert redo.created_by == "operator"


def test_a_result_that_arrives_after_the_deletion_is_deleted_too() -> None:
    life = image_life("alice", 6)
    image, tasks, _ = project(life)
    assert image is not None and image.deleted
    (task,) = tasks.values()
    assert task.status.value == "completed" and task.deleted
    assert task.updated_by == "processor" and task.created_by == "alice"
