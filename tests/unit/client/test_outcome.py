"""How the reference client reads the notifier's messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.client.outcome import (
    COMPLETED,
    FAILED,
    STARTED,
    Tracked,
    apply_message,
    apply_snapshot,
)


def _event(kind: str, task_id: str = "t1", **data: Any) -> dict[str, Any]:
    return {
        "type": "event",
        "image_id": "i1",
        "event": {"type": kind, "data": {"task_id": task_id, **data}},
        "links": {"cutout": "http://api/v1/images/i1/result?kind=cutout"},
    }


def test_started_then_completed_moves_forward_and_keeps_the_link() -> None:
    t = Tracked(Path("a.jpg"), image_id="i1", task_id="t1", status="queued")
    assert apply_message(t, _event(STARTED))
    assert t.status == "processing"
    assert apply_message(t, _event(COMPLETED, timings={"total_ms": 900.0}))
    assert t.status == "completed"
    assert t.cutout_url == "http://api/v1/images/i1/result?kind=cutout"
    assert t.timings == {"total_ms": 900.0}


def test_a_late_started_or_failed_never_undoes_a_completion() -> None:
    t = Tracked(Path("a.jpg"), image_id="i1", task_id="t1", status="completed")
    assert not apply_message(t, _event(STARTED))
    assert not apply_message(t, _event(FAILED, reason="internal", message="x"))
    assert t.status == "completed"


def test_failure_carries_reason_and_message() -> None:
    t = Tracked(Path("a.jpg"), image_id="i1", task_id="t1", status="processing")
    apply_message(t, _event(FAILED, reason="image_undecodable", message="not a JPEG"))
    assert t.status == "failed"
    assert t.error == "image_undecodable: not a JPEG"


def test_events_of_another_task_of_the_same_image_are_ignored() -> None:
    t = Tracked(Path("a.jpg"), image_id="i1", task_id="t1", status="processing")
    assert not apply_message(t, _event(COMPLETED, task_id="t2"))
    assert t.status == "processing"


def test_snapshot_of_a_completed_image_completes_it() -> None:
    t = Tracked(Path("a.jpg"), image_id="i1", task_id="t1", status="queued")
    image = {
        "image_id": "i1",
        "task_id": "t1",
        "status": "completed",
        "links": {"cutout": "http://api/c"},
    }
    assert apply_snapshot(t, image)
    assert (t.status, t.cutout_url) == ("completed", "http://api/c")
