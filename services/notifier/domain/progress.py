"""Where an image's task stands, and which of two reports of it is newer. Pure.

The ranking is the contract's (`schemas/progress.py`): a completed attempt outranks
anything that is not completed, a later attempt outranks an earlier one, and within one
attempt queued < processing < failed < completed. An event that does not move a task forward
(a duplicate, or a Started arriving after its own Completed) is stale and is never pushed, so
a client never sees an image's state go backwards.
"""

from __future__ import annotations

from schemas import ProcessingCompleted, ProcessingFailed, ProcessingStarted
from schemas.progress import IMAGE_STATUS, Progress, progress_of, supersedes, task_status_of
from schemas.progress import ImageStatus as Status

PushedEvent = ProcessingStarted | ProcessingCompleted | ProcessingFailed
PUSHED_EVENTS = (ProcessingStarted, ProcessingCompleted, ProcessingFailed)

__all__ = [
    "PUSHED_EVENTS",
    "Progress",
    "PushedEvent",
    "Status",
    "progress_of",
    "status_of",
    "supersedes",
]


def status_of(event: PushedEvent) -> Status:
    """The status an event leaves its image in, as clients see it."""
    return IMAGE_STATUS[task_status_of(event)]
