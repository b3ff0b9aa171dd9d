"""The events of the last minutes, per image, and the rule that keeps each image moving
forward. Pure (the clock is injected).

Every event the notifier consumes passes through `RecentEvents.accept`: a duplicate or an
event that would move its task backwards is refused and never pushed. Accepted events are
kept for a while (bounded by age and by number of images) so that a client subscribing
before the read model has caught up still learns of them.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from enum import StrEnum

from services.notifier.domain.notice import Notice
from services.notifier.domain.progress import Progress, supersedes


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"
    DELETED = "deleted"  # the image was deleted: nothing more is said about it


class _Image:
    __slots__ = ("notices", "owner", "progress", "touched")

    def __init__(self, owner: str, per_image: int, now: float) -> None:
        self.owner = owner
        self.notices: deque[Notice] = deque(maxlen=per_image)
        self.progress: dict[str, Progress] = {}
        self.touched = now


class RecentEvents:
    def __init__(
        self,
        *,
        max_images: int,
        max_age_seconds: float,
        per_image: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_images = max_images
        self._max_age = max_age_seconds
        self._per_image = per_image
        self._clock = clock
        self._images: OrderedDict[str, _Image] = OrderedDict()  # least recently touched first
        self._by_owner: dict[str, set[str]] = {}
        self._deleted: OrderedDict[str, None] = OrderedDict()  # ids only, oldest first

    def __len__(self) -> int:
        return len(self._images)

    def accept(self, notice: Notice) -> Verdict:
        """Record ``notice`` if it moves its task forward; say why not otherwise."""
        now = self._clock()
        self._expire(now)
        if notice.image_id in self._deleted:
            return Verdict.DELETED
        entry = self._images.get(notice.image_id)
        if entry is None:
            entry = _Image(notice.owner, self._per_image, now)
            self._images[notice.image_id] = entry
            self._by_owner.setdefault(notice.owner, set()).add(notice.image_id)
            self._evict_over_capacity()
        if not supersedes(notice.progress, entry.progress.get(notice.task_id)):
            if any(n.event_id == notice.event_id for n in entry.notices):
                return Verdict.DUPLICATE
            return Verdict.STALE
        entry.progress[notice.task_id] = notice.progress
        entry.notices.append(notice)
        entry.touched = now
        self._images.move_to_end(notice.image_id)
        return Verdict.ACCEPTED

    def forget(self, image_id: str) -> bool:
        """Drop everything about a deleted image and refuse its later events (`DELETED`).
        Only its id is kept, for as many images as the recent events hold. False when it
        was forgotten before (a re-delivered deletion)."""
        if image_id in self._deleted:
            return False
        if image_id in self._images:
            self._drop(image_id)
        self._deleted[image_id] = None
        while len(self._deleted) > self._max_images:
            self._deleted.popitem(last=False)
        return True

    def is_deleted(self, image_id: str) -> bool:
        return image_id in self._deleted

    def notices(self, image_id: str) -> list[Notice]:
        """Accepted events of the image, oldest first."""
        entry = self._images.get(image_id)
        if entry is None or self._clock() - entry.touched > self._max_age:
            return []
        return list(entry.notices)

    def owner_notices(self, owner: str) -> dict[str, list[Notice]]:
        """Accepted events of the owner's images, by image id."""
        found: dict[str, list[Notice]] = {}
        for image_id in self._by_owner.get(owner, ()):
            notices = self.notices(image_id)
            if notices:
                found[image_id] = notices
        return found

    def _expire(self, now: float) -> None:
        while self._images:
            image_id, entry = next(iter(self._images.items()))
            if now - entry.touched <= self._max_age:
                return
            self._drop(image_id)

    def _evict_over_capacity(self) -> None:
        while len(self._images) > self._max_images:
            self._drop(next(iter(self._images)))

    def _drop(self, image_id: str) -> None:
        entry = self._images.pop(image_id)
        owned = self._by_owner.get(entry.owner)
        if owned is not None:
            owned.discard(image_id)
            if not owned:
                del self._by_owner[entry.owner]
