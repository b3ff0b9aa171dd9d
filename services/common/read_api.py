"""The read side's public interface, as other services see it: the views that the upload
service's migrations define over its read model (migration 009), and the channel on which
its projector announces, at commit, every event it has applied.

The tables behind the views (``images``, ``processing_tasks``, ``applied_events``,
``api_keys``) belong to the upload service; no other service names them.
"""

from __future__ import annotations

# pg_notify payload: "<event_id> <image_id>", sent inside the transaction that applies the
# event, so PostgreSQL delivers it only once the event's effects are committed.
APPLIED_CHANNEL = "clearcut_applied"

# View -> its documented columns, in order.
VIEWS: dict[str, tuple[str, ...]] = {
    "read_api_images": (
        "image_id",
        "owner",
        "status",
        "task_id",
        "task_requested_at",
        "updated_at",
        "attempt",
        "model_name",
        "model_version",
        "provider",
        "results",
        "error_reason",
        "error_message",
        "error_retriable",
    ),
    "read_api_applied_events": ("event_id", "event_type", "image_id", "occurred_at", "applied_at"),
    "read_api_active_keys": ("key_sha256", "owner", "scopes"),
}


def applied_payload(event_id: str, image_id: str) -> str:
    return f"{event_id} {image_id}"


def parse_applied(payload: str) -> tuple[str, str] | None:
    """(event id, image id) of an announcement; None when it is not one."""
    event_id, _, image_id = payload.partition(" ")
    if not event_id or not image_id:
        return None
    return event_id, image_id
