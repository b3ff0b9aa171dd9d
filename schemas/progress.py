"""How an image's processing task moves, whatever order its events arrive in. Pure.

This ranking is part of the contract: the projector (what GET answers) and the notifier (what
a subscriber is pushed) both decide with it which of two reports of a task is newer, so the
two never disagree about an image's state.

Each event gives the task a `Progress` (status and attempt). An event's progress replaces
the stored one only when it ranks higher, so the final state is the highest-ranked progress
seen, independent of arrival order:

- a completed attempt outranks anything that is not completed (its results are stored and
  stay valid), and among completed attempts the later attempt wins;
- otherwise a later attempt outranks an earlier one (a retry after a retriable failure);
- within one attempt: pending < processing < failed < completed.

So a Completed applied before its Started ends `completed`, a re-delivered Started never
moves a finished task back to `processing`, and a retry's Started does move a failed task
back to `processing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.events import ProcessingCompleted, ProcessingFailed, ProcessingStarted

TaskEventOfProgress = ProcessingStarted | ProcessingCompleted | ProcessingFailed


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ImageStatus(StrEnum):
    """What a client sees: the status of the image's current task."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    # Never stored: a completed image whose results' retention has passed reads as expired.
    EXPIRED = "expired"


IMAGE_STATUS = {
    TaskStatus.PENDING: ImageStatus.QUEUED,
    TaskStatus.PROCESSING: ImageStatus.PROCESSING,
    TaskStatus.COMPLETED: ImageStatus.COMPLETED,
    TaskStatus.FAILED: ImageStatus.FAILED,
}
TASK_STATUS = {image: task for task, image in IMAGE_STATUS.items()}

_RANK = {
    TaskStatus.PENDING: 0,
    TaskStatus.PROCESSING: 1,
    TaskStatus.FAILED: 2,
    TaskStatus.COMPLETED: 3,
}


@dataclass(frozen=True, slots=True)
class Progress:
    status: TaskStatus
    attempt: int  # 0 before any processor took the task

    def key(self) -> tuple[bool, int, int]:
        return (self.status is TaskStatus.COMPLETED, self.attempt, _RANK[self.status])


def supersedes(incoming: Progress, current: Progress | None) -> bool:
    """Whether `incoming` replaces `current` as the task's progress."""
    return current is None or incoming.key() > current.key()


def task_status_of(event: TaskEventOfProgress) -> TaskStatus:
    if isinstance(event, ProcessingStarted):
        return TaskStatus.PROCESSING
    if isinstance(event, ProcessingCompleted):
        return TaskStatus.COMPLETED
    return TaskStatus.FAILED


def progress_of(event: TaskEventOfProgress) -> Progress:
    return Progress(task_status_of(event), event.attempt)
