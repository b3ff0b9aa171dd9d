"""The projection gives the same rows whatever order an image's events are applied in: the
property a rebuild from the topics relies on to reproduce the live read model."""

from __future__ import annotations

import random

import pytest

from schemas import Event
from services.upload.domain.projection import (
    ImageState,
    TaskState,
    apply_to_image,
    apply_to_task,
)
from tests.unit.upload.histories import image_life


def project(events: list[Event]) -> tuple[ImageState | None, dict[str, TaskState]]:
    image: ImageState | None = None
    tasks: dict[str, TaskState] = {}
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        task = apply_to_task(tasks.get(event.task_id), event)
        tasks[task.id] = task
        image = apply_to_image(image, event, task) or image
    return image, tasks


@pytest.mark.parametrize("kind", range(5))
def test_every_order_of_an_images_events_gives_the_same_rows(kind: int) -> None:
    life = image_life("alice", kind)
    expected = project(life)
    rng = random.Random(kind)
    for _ in range(300):
        shuffled = rng.sample(life, len(life))
        shuffled += rng.choices(life, k=2)  # re-deliveries
        assert project(shuffled) == expected, [type(e).__name__ for e in shuffled]
