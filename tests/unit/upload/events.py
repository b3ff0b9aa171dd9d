"""Events of one image's life, built from the checked-in examples with chosen ids and times."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import (
    ImageDeleted,
    ImageDownloaded,
    ImageUploaded,
    ProcessingCompleted,
    ProcessingFailed,
    ProcessingStarted,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def _common(image_id: str, task_id: str, owner: str, at: float) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "image_id": image_id,
        "owner": owner,
        "occurred_at": (T0 + timedelta(seconds=at)).isoformat(),
        "task_id": task_id,
    }


def uploaded(
    image_id: str, task_id: str, owner: str = "alice", at: float = 0, replay: bool = False
) -> ImageUploaded:
    data = _example("ImageUploaded") | _common(image_id, task_id, owner, at)
    data["original"] = data["original"] | {"key": f"{owner}/{image_id}"}
    if replay:
        data["reprocessing"] = {
            "replay_id": "replay-1",
            "original_event_id": str(uuid.uuid4()),
            "requested_by": "operator",
            "reason": "new model",
        }
    else:
        data["reprocessing"] = None
    return ImageUploaded.model_validate(data)


def started(
    image_id: str, task_id: str, owner: str = "alice", at: float = 1, attempt: int = 1
) -> ProcessingStarted:
    data = _example("ProcessingStarted") | _common(image_id, task_id, owner, at)
    return ProcessingStarted.model_validate(data | {"attempt": attempt})


def completed(
    image_id: str, task_id: str, owner: str = "alice", at: float = 2, attempt: int = 1
) -> ProcessingCompleted:
    data = _example("ProcessingCompleted") | _common(image_id, task_id, owner, at)
    results = [
        r | {"key": f"{owner}/{image_id}/{task_id}/{r['kind']}.png"} for r in data["results"]
    ]
    return ProcessingCompleted.model_validate(data | {"attempt": attempt, "results": results})


def failed(
    image_id: str,
    task_id: str,
    owner: str = "alice",
    at: float = 2,
    attempt: int = 1,
    retriable: bool = True,
) -> ProcessingFailed:
    data = _example("ProcessingFailed") | _common(image_id, task_id, owner, at)
    return ProcessingFailed.model_validate(data | {"attempt": attempt, "retriable": retriable})


def downloaded(image_id: str, task_id: str, owner: str = "alice", at: float = 3) -> ImageDownloaded:
    data = _example("ImageDownloaded") | _common(image_id, task_id, owner, at)
    return ImageDownloaded.model_validate(data)


def deleted(
    image_id: str, owner: str = "alice", at: float = 10, by: str | None = None
) -> ImageDeleted:
    data = _example("ImageDeleted") | {
        "event_id": str(uuid.uuid4()),
        "image_id": image_id,
        "owner": owner,
        "occurred_at": (T0 + timedelta(seconds=at)).isoformat(),
        "deleted_by": by or owner,
    }
    return ImageDeleted.model_validate(data)
