"""Realistic event histories for many images: completions, retries, failures, downloads,
reprocessing, duplicates, in a shuffled order across topics."""

from __future__ import annotations

import random
import uuid

from schemas import Event
from tests.unit.upload import events as ev


def image_life(owner: str, kind: int) -> list[Event]:
    image_id, task_id = f"img-{uuid.uuid4().hex}", f"task-{uuid.uuid4().hex}"
    life: list[Event] = [ev.uploaded(image_id, task_id, owner=owner)]
    if kind == 0:  # completed and downloaded twice
        life += [
            ev.started(image_id, task_id, owner=owner),
            ev.completed(image_id, task_id, owner=owner),
            ev.downloaded(image_id, task_id, owner=owner, at=5),
            ev.downloaded(image_id, task_id, owner=owner, at=6),
        ]
    elif kind == 1:  # a retriable failure, then a retry that completes
        life += [
            ev.started(image_id, task_id, owner=owner),
            ev.failed(image_id, task_id, owner=owner, retriable=True),
            ev.started(image_id, task_id, owner=owner, at=3, attempt=2),
            ev.completed(image_id, task_id, owner=owner, at=4, attempt=2),
        ]
    elif kind == 2:  # failed for good
        life += [
            ev.started(image_id, task_id, owner=owner),
            ev.failed(image_id, task_id, owner=owner, retriable=False),
        ]
    elif kind == 3:  # completed, then reprocessed and completed again
        redo = f"redo-{uuid.uuid4().hex}"
        life += [
            ev.started(image_id, task_id, owner=owner),
            ev.completed(image_id, task_id, owner=owner),
            ev.uploaded(image_id, redo, owner=owner, at=60, replay=True),
            ev.started(image_id, redo, owner=owner, at=61),
            ev.completed(image_id, redo, owner=owner, at=62),
        ]
    elif kind == 5:  # completed, then deleted by its owner
        life += [
            ev.started(image_id, task_id, owner=owner),
            ev.completed(image_id, task_id, owner=owner),
            ev.deleted(image_id, owner=owner, at=30),
        ]
    elif kind == 6:  # deleted while processing: the result arrives after the deletion
        life += [
            ev.started(image_id, task_id, owner=owner),
            ev.deleted(image_id, owner=owner, at=1.5),
            ev.completed(image_id, task_id, owner=owner, at=2),
        ]
    elif kind == 7:  # deleted twice (owner, then an operator), then replayed
        redo = f"redo-{uuid.uuid4().hex}"
        life += [
            ev.deleted(image_id, owner=owner, at=20),
            ev.deleted(image_id, owner=owner, at=25, by="operator"),
            ev.uploaded(image_id, redo, owner=owner, at=60, replay=True),
        ]
    # kind 4: only uploaded (still queued)
    return life


KINDS = 8


def histories(owner: str, images: int, *, seed: int = 7) -> tuple[list[Event], int]:
    """Events of ``images`` images in a shuffled order, with some sent twice; and the
    number of distinct events among them."""
    rng = random.Random(seed)
    events = [e for i in range(images) for e in image_life(owner, i % KINDS)]
    distinct = len(events)
    events += rng.sample(events, max(1, len(events) // 20))  # re-deliveries, same ids
    rng.shuffle(events)
    return events, distinct
