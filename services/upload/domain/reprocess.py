"""A reprocessing request for an image that was uploaded before. Pure.

Replays and the API's reprocess requests both publish a new ImageUploaded: the original's
stored image and options (with the model possibly replaced), a new task, and a
`reprocessing` block naming the request, the original event, who asked and why.

The event and task ids are derived from the request's `replay_id` and the image id, so
sending the same request again produces the same event (a duplicate every consumer
ignores), never a second task.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from schemas import ImageUploaded, Reprocessing

# Fixed namespaces for the derived ids; changing them would make re-sends new requests.
_EVENT_NAMESPACE = uuid.UUID("5b0f7a52-3c1e-4d8e-9a47-0c1f2d7e6a10")
_TASK_NAMESPACE = uuid.UUID("a3d4e1c9-8b27-4f65-b0de-7e2c91f4d853")


class NotAnOriginal(ValueError):
    """Only an image's first ImageUploaded can be the basis of a reprocessing request."""


def reprocess_ids(replay_id: str, image_id: str) -> tuple[str, str]:
    """The event id and task id of ``replay_id``'s request for ``image_id``."""
    name = f"{replay_id}/{image_id}"
    return str(uuid.uuid5(_EVENT_NAMESPACE, name)), str(uuid.uuid5(_TASK_NAMESPACE, name))


def reprocess_request(
    original: ImageUploaded,
    *,
    replay_id: str,
    requested_by: str,
    reason: str | None,
    model: str | None,
    now: datetime,
) -> ImageUploaded:
    """The ImageUploaded asking to process ``original``'s image again, with ``model``, or
    with the model the original asked for (possibly the default) when ``model`` is None."""
    if original.reprocessing is not None:
        raise NotAnOriginal(
            f"event {original.event_id} is itself a reprocessing request; "
            "use the image's first ImageUploaded"
        )
    event_id, task_id = reprocess_ids(replay_id, original.image_id)
    chosen = original.options.model if model is None else model
    return ImageUploaded(
        event_id=event_id,
        image_id=original.image_id,
        owner=original.owner,
        occurred_at=now,
        task_id=task_id,
        original=original.original,
        options=original.options.model_copy(update={"model": chosen}),
        reprocessing=Reprocessing(
            replay_id=replay_id,
            original_event_id=original.event_id,
            requested_by=requested_by,
            reason=reason,
        ),
    )
