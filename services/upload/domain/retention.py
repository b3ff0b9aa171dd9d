"""How long originals and results are kept, and whether they still are. Pure.

Results expire `results_seconds` after their task finished; an original
`originals_seconds` after the last of its image's tasks finished (never while a task of
the image is pending or processing). The object store removes the objects (its lifecycle
rules); these rules say what the API answers meanwhile and afterwards, so an expired result
is reported as expired however quickly or slowly the store removes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.upload.domain.progress import TaskStatus
from services.upload.domain.projection import TaskState


@dataclass(frozen=True, slots=True)
class Retention:
    originals_seconds: float
    results_seconds: float

    def results_expire_at(self, task: TaskState) -> datetime | None:
        if task.status is not TaskStatus.COMPLETED or task.finished_at is None:
            return None
        return task.finished_at + timedelta(seconds=self.results_seconds)

    def results_expired(self, task: TaskState, now: datetime) -> bool:
        expires = self.results_expire_at(task)
        return expires is not None and now >= expires

    def original_expires_at(self, tasks: Iterable[TaskState]) -> datetime | None:
        finished: list[datetime] = []
        for task in tasks:
            if task.status in (TaskStatus.PENDING, TaskStatus.PROCESSING):
                return None
            if task.finished_at is not None:
                finished.append(task.finished_at)
        if not finished:
            return None
        return max(finished) + timedelta(seconds=self.originals_seconds)

    def original_expired(self, tasks: Iterable[TaskState], now: datetime) -> bool:
        expires = self.original_expires_at(tasks)
        return expires is not None and now >= expires
