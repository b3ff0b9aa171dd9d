"""What a webhook says: one outcome of a task (completed or failed), in terms its owner may
see, and the stable ids that make re-sends recognisable. Pure.

The payload carries no worker host or pid, no bucket or object key, no failure text written
by a worker (which may name internal objects: a fixed text per reason is sent instead) and
nothing that tells whether a result was reused from another upload.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import FailureReason, ProcessingCompleted, ProcessingFailed

# Fixed namespace of delivery ids: uuid5(DELIVERY_NAMESPACE, "<outcome key>/<target>").
DELIVERY_NAMESPACE = uuid.UUID("4d1b8f0e-3c55-4f0a-9a57-61c0d2b7e9a3")
COMPLETED = "image.completed"
FAILED = "image.failed"

FAILURE_TEXT: dict[FailureReason, str] = {
    FailureReason.IMAGE_MISSING: "the original image is no longer stored",
    FailureReason.IMAGE_UNDECODABLE: "the image could not be decoded",
    FailureReason.IMAGE_UNSUPPORTED: "the image is of a kind that cannot be processed",
    FailureReason.MODEL_UNKNOWN: "the requested model is not known",
    FailureReason.MODEL_UNAVAILABLE: "the model could not be loaded right now",
    FailureReason.MODEL_ERROR: "the model failed on this image",
    FailureReason.STORAGE_UNAVAILABLE: "storage was unavailable",
    FailureReason.TIMEOUT: "processing took too long",
    FailureReason.INTERNAL: "an internal error occurred",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One completion or failure of one attempt of one task, ready to be delivered."""

    key: str  # "<task id>/<attempt>/<completed|failed>": the same for a re-sent event
    event_id: str
    event_type: str
    owner: str
    image_id: str
    task_id: str
    occurred_at: datetime
    payload: dict[str, Any]


def links(public_url: str, image_id: str, completed: bool) -> dict[str, str]:
    base = f"{public_url.rstrip('/')}/v1/images/{image_id}"
    found = {"status": base}
    if completed:
        found |= {"cutout": f"{base}/result?kind=cutout", "mask": f"{base}/result?kind=mask"}
    return found


def outcome_of(event: ProcessingCompleted | ProcessingFailed, public_url: str) -> Outcome:
    completed = isinstance(event, ProcessingCompleted)
    event_type = COMPLETED if completed else FAILED
    payload: dict[str, Any] = {
        "type": event_type,
        "event_id": event.event_id,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "owner": event.owner,
        "image_id": event.image_id,
        "task_id": event.task_id,
        "attempt": event.attempt,
        "status": "completed" if completed else "failed",
        "model": None
        if event.model is None
        else {"name": event.model.name, "version": event.model.version},
        "links": links(public_url, event.image_id, completed),
    }
    if isinstance(event, ProcessingCompleted):
        urls = payload["links"]
        payload["results"] = [
            {
                "kind": result.kind.value,
                "content_type": result.content_type,
                "width": result.width,
                "height": result.height,
                "size": result.size,
                "url": urls[result.kind.value],
            }
            for result in event.results
            if result.kind.value in urls
        ]
        payload["error"] = None
    else:
        payload["results"] = []
        payload["error"] = {
            "reason": event.reason.value,
            "message": FAILURE_TEXT.get(event.reason, "processing failed"),
            "retriable": event.retriable,
        }
    key = f"{event.task_id}/{event.attempt}/{payload['status']}"
    return Outcome(
        key=key,
        event_id=event.event_id,
        event_type=event_type,
        owner=event.owner,
        image_id=event.image_id,
        task_id=event.task_id,
        occurred_at=event.occurred_at,
        payload=payload,
    )


def endpoint_delivery_id(outcome_key: str, endpoint_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{outcome_key}/endpoint/{endpoint_id}"))


def callback_delivery_id(outcome_key: str) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{outcome_key}/callback"))


def body(delivery_id: str, payload: dict[str, Any]) -> bytes:
    """The bytes POSTed (and signed): the payload with the delivery's id first."""
    document = {"id": delivery_id, **{k: v for k, v in payload.items() if k != "id"}}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def endpoint_id() -> str:
    return "we_" + uuid.uuid4().hex
