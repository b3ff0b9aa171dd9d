"""Where a worker stands on one partition it owns: what it may commit, which attempt a task is.

Tasks finish in any order, but a partition's committed offset may only move past records
whose outcome is durable: ``PartitionProgress`` keeps the offsets taken and not yet finished,
and the offset to commit is the lowest of them (or one past the last taken when none is
open). A crash therefore redelivers only unfinished work.

The attempt number costs no round trip of its own: it rides on the commits. Each commit
carries metadata ``taken=<highest offset taken> attempt=<attempt of the open range>``; the
next owner of the partition reads it on assignment, and every record it receives at or below
``taken`` was already handed to a worker once, so it is attempt ``attempt + 1``. Records
above it are first attempts. The count is per partition, not per task: after two hand-overs
a task that the first owner never reached is still reported as a redelivery (a higher
attempt than it had), never as a first attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_METADATA = re.compile(r"^taken=(-?\d+) attempt=(\d+)$")


@dataclass(frozen=True)
class Handover:
    """What the previous owner left in the commit metadata."""

    taken: int = -1
    attempt: int = 0

    @classmethod
    def parse(cls, metadata: str | None) -> Handover:
        match = _METADATA.match((metadata or "").strip())
        if match is None:
            return cls()
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass
class PartitionProgress:
    """Offsets of one partition: taken, finished, committable; attempts of redeliveries."""

    handover: Handover = field(default_factory=Handover)
    _open: set[int] = field(default_factory=set)
    _highest: int = -1
    _last: tuple[int, str] | None = None

    def take(self, offset: int) -> int:
        """Record that ``offset`` was taken; return the task's attempt number."""
        self._open.add(offset)
        self._highest = max(self._highest, offset)
        return self.attempt_of(offset)

    def attempt_of(self, offset: int) -> int:
        if offset <= self.handover.taken:
            return self.handover.attempt + 1
        return 1

    def finish(self, offset: int) -> None:
        self._open.discard(offset)

    @property
    def open(self) -> int:
        return len(self._open)

    def committable(self) -> int | None:
        """The next offset to commit (Kafka's "next record to read"), or None before any."""
        if self._open:
            return min(self._open)
        if self._highest < 0:
            return None
        return self._highest + 1

    def metadata(self) -> str:
        """What the next owner needs to number redeliveries."""
        taken = max(self._highest, self.handover.taken)
        low = self.committable()
        redelivering = low is not None and low <= self.handover.taken
        attempt = self.handover.attempt + 1 if redelivering else 1
        return f"taken={taken} attempt={attempt}"

    def pending_commit(self) -> tuple[int, str] | None:
        """Offset and metadata to commit when they changed since the last commit."""
        low = self.committable()
        if low is None or (low, self.metadata()) == self._last:
            return None
        return low, self.metadata()

    def committed(self, commit: tuple[int, str]) -> None:
        self._last = commit

    @property
    def last_committed(self) -> int | None:
        return None if self._last is None else self._last[0]
