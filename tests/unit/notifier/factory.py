"""Valid processing events for notifier tests, built from the checked-in examples."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import ImageDeleted, ProcessingCompleted, ProcessingFailed, ProcessingStarted
from services.common.envelope import EventEnvelope, decode, encode

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"
SOURCE = "/clearcut/processor"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _data(
    name: str, image_id: str, owner: str, task_id: str, at: float | datetime, **extra: Any
) -> Any:
    """``at``: seconds after T0, or an exact time."""
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    when = at if isinstance(at, datetime) else T0 + timedelta(seconds=at)
    data.update(
        event_id=str(uuid.uuid4()),
        image_id=image_id,
        owner=owner,
        task_id=task_id,
        occurred_at=when.isoformat(),
        **extra,
    )
    return data


def started(
    image_id: str,
    owner: str = "alice",
    task_id: str = "task-1",
    *,
    at: float | datetime = 1,
    attempt: int = 1,
) -> ProcessingStarted:
    return ProcessingStarted.model_validate(
        _data("ProcessingStarted", image_id, owner, task_id, at, attempt=attempt)
    )


def completed(
    image_id: str,
    owner: str = "alice",
    task_id: str = "task-1",
    *,
    at: float | datetime = 2,
    attempt: int = 1,
) -> ProcessingCompleted:
    return ProcessingCompleted.model_validate(
        _data("ProcessingCompleted", image_id, owner, task_id, at, attempt=attempt)
    )


def failed(
    image_id: str,
    owner: str = "alice",
    task_id: str = "task-1",
    *,
    at: float | datetime = 2,
    attempt: int = 1,
) -> ProcessingFailed:
    return ProcessingFailed.model_validate(
        _data("ProcessingFailed", image_id, owner, task_id, at, attempt=attempt)
    )


def deleted(image_id: str, owner: str = "alice", *, at: float = 5) -> ImageDeleted:
    data = json.loads((EXAMPLES / "ImageDeleted.json").read_text())
    data.update(
        event_id=str(uuid.uuid4()),
        image_id=image_id,
        owner=owner,
        deleted_by=owner,
        occurred_at=(T0 + timedelta(seconds=at)).isoformat(),
    )
    return ImageDeleted.model_validate(data)


def envelope(
    event: ProcessingStarted | ProcessingCompleted | ProcessingFailed | ImageDeleted,
) -> EventEnvelope:
    """The event as the feed hands it over: encoded for Kafka and decoded again."""
    record = encode(event, SOURCE)
    return decode(record.value, record.headers)
