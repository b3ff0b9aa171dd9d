"""What a scenario's burst came to: pure counting over what the suite observed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TERMINAL = ("completed", "failed")


@dataclass(frozen=True)
class TaskRow:
    """One processing task of an image in the read model."""

    image_id: str
    task_id: str
    status: str
    error_reason: str | None = None


@dataclass
class Tally:
    """One scenario's figures. ``statuses`` counts every HTTP answer (or transport error)
    an upload attempt got; ``bad_statuses`` are those that break the contract (a 5xx other
    than 503, or a 503 without Retry-After)."""

    scenario: str
    uploads: int
    accepted: int
    completed: int
    failed: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    bad_statuses: Counter[str] = field(default_factory=Counter)
    # Originals stored during the burst that belong to no accepted upload: half-stored.
    orphans: list[str] = field(default_factory=list)
    drain_s: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.bad_statuses or self.orphans)


def tally(
    scenario: str,
    uploads: int,
    accepted: list[str],
    rows: list[TaskRow],
    completions: list[tuple[str, str]],
    statuses: Counter[str],
    bad_statuses: Counter[str],
) -> Tally:
    """Count outcomes of the ``accepted`` image ids.

    ``rows`` are the read model's tasks of those images; ``completions`` the (image id,
    task id) of every ProcessingCompleted event on the topic. An image is *lost* when no task
    of it reached a terminal state; *duplicated* when it has more than one completed task
    row, or a task of it has more than one completion event.
    """
    by_image: dict[str, list[TaskRow]] = {}
    for row in rows:
        by_image.setdefault(row.image_id, []).append(row)
    events = Counter(task for image, task in completions if image in set(accepted))
    result = Tally(
        scenario, uploads, len(accepted), 0, statuses=statuses, bad_statuses=bad_statuses
    )
    for image in accepted:
        tasks = by_image.get(image, [])
        done = [t for t in tasks if t.status == "completed"]
        failed = [t for t in tasks if t.status == "failed"]
        if done:
            result.completed += 1
        elif failed:
            result.failed[failed[0].error_reason or "unknown"] += 1
        else:
            result.lost.append(image)
        if len(done) > 1 or any(events[t.task_id] > 1 for t in tasks):
            result.duplicated.append(image)
    return result


def settled(accepted: list[str], rows: list[TaskRow]) -> bool:
    """Has every accepted image a task in a terminal state?"""
    finished = {r.image_id for r in rows if r.status in TERMINAL}
    return all(image in finished for image in accepted)
