"""Where an image's task stands, and which of two reports of it is newer. Pure.

A task's progress only moves forward, whatever order its events arrive in: a completed
attempt outranks anything that is not completed, a later attempt outranks an earlier one,
and within one attempt queued < processing < failed < completed. An event that does not
move a task forward (a duplicate, or a Started arriving after its own Completed) is stale
and is never pushed, so a client never sees an image's state go backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas import ProcessingCompleted, ProcessingFailed, ProcessingStarted

PushedEvent = ProcessingStarted | ProcessingCompleted | ProcessingFailed
PUSHED_EVENTS = (ProcessingStarted, ProcessingCompleted, ProcessingFailed)


class Status(StrEnum):
    """An image's status as clients see it: that of its current task."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


_RANK = {Status.QUEUED: 0, Status.PROCESSING: 1, Status.FAILED: 2, Status.COMPLETED: 3}


@dataclass(frozen=True, slots=True)
class Progress:
    status: Status
    attempt: int  # 0 before a processor took the task

    def key(self) -> tuple[bool, int, int]:
        return (self.status is Status.COMPLETED, self.attempt, _RANK[self.status])


def supersedes(incoming: Progress, current: Progress | None) -> bool:
    """Whether ``incoming`` is news compared with ``current`` for the same task."""
    return current is None or incoming.key() > current.key()


def status_of(event: PushedEvent) -> Status:
    if isinstance(event, ProcessingStarted):
        return Status.PROCESSING
    if isinstance(event, ProcessingCompleted):
        return Status.COMPLETED
    return Status.FAILED


def progress_of(event: PushedEvent) -> Progress:
    return Progress(status_of(event), event.attempt)
