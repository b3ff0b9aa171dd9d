"""Which uploads a replay selects and what it sends for each. Pure.

The scan of the upload topic yields every original upload (an ImageUploaded without
`reprocessing`) that matches the criteria, and the ids of the requests this replay has
already published. `plan_replay` turns them into the events to send and the images skipped,
each with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from schemas import ImageUploaded
from schemas.values import IDENTIFIER_PATTERN
from services.upload.domain.reprocess import reprocess_ids, reprocess_request


class SkipReason(StrEnum):
    ALREADY_SENT = "already_sent"
    """This replay's request for the image is on the topic already (an earlier run)."""
    HAS_COMPLETED_TASK = "has_completed_task"
    """`missing`: the image has a completed task with the model."""
    IN_PROGRESS = "in_progress"
    """`missing`: a task requesting the model is still pending or processing."""
    NOT_FOUND = "not_found"
    """Asked for by id, but no original upload of it is on the topic (within retention)."""
    DELETED = "deleted"
    """The image was deleted; it is never processed again."""


SKIP_EXPLANATIONS = {
    SkipReason.ALREADY_SENT: "already sent by an earlier run of this replay",
    SkipReason.HAS_COMPLETED_TASK: "already has a completed task with the model",
    SkipReason.IN_PROGRESS: "a task with the model is still pending or processing",
    SkipReason.NOT_FOUND: "no original upload on the topic (unknown id, or past retention)",
    SkipReason.DELETED: "the image was deleted",
}


class CriteriaError(ValueError):
    """The criteria contradict each other or select nothing by definition."""


@dataclass(frozen=True, slots=True)
class Criteria:
    """What to select. Criteria combine (all must hold); at least one must be given."""

    since: datetime | None = None
    until: datetime | None = None
    owner: str | None = None
    image_ids: frozenset[str] | None = None
    missing: bool = False

    def check(self, model: str | None) -> None:
        if not (self.since or self.until or self.owner or self.image_ids or self.missing):
            raise CriteriaError(
                "choose what to replay: a time range, an owner, image ids, or missing results"
            )
        if self.since and self.until and self.since >= self.until:
            raise CriteriaError(f"--since {self.since} is not before --until {self.until}")
        if self.missing and model is None:
            raise CriteriaError("missing results are per model: give --model")
        for label, moment in (("since", self.since), ("until", self.until)):
            if moment is not None and moment.tzinfo is None:
                raise CriteriaError(f"{label} must carry a timezone")

    def matches(self, upload: ImageUploaded, timestamp: datetime) -> bool:
        """Whether an original upload, written to the topic at ``timestamp``, is selected."""
        if upload.reprocessing is not None:
            return False
        if self.since is not None and timestamp < self.since:
            return False
        if self.until is not None and timestamp >= self.until:
            return False
        if self.owner is not None and upload.owner != self.owner:
            return False
        return self.image_ids is None or upload.image_id in self.image_ids


@dataclass(frozen=True, slots=True)
class ModelState:
    """From the read model, for `missing`: images with a completed task with the model, and
    images with a task requesting it that has not finished."""

    completed: frozenset[str] = frozenset()
    in_progress: frozenset[str] = frozenset()
    deleted: frozenset[str] = frozenset()  # deleted images, whatever the criteria


_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks for the replay, and how."""

    replay_id: str
    requested_by: str
    reason: str | None
    model: str | None

    def check(self) -> None:
        for label, value in (("replay id", self.replay_id), ("model", self.model)):
            if value is not None and not (len(value) <= 128 and _IDENTIFIER.match(value)):
                raise CriteriaError(
                    f"{label} {value!r} must be 1-128 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit"
                )
        if not 1 <= len(self.requested_by) <= 200:
            raise CriteriaError("the requester's name must be 1-200 characters")
        if self.reason is not None and len(self.reason) > 1000:
            raise CriteriaError("the reason must be at most 1000 characters")


@dataclass(frozen=True, slots=True)
class Skipped:
    image_id: str
    owner: str | None
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    to_send: list[ImageUploaded] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def selected(self) -> int:
        return len(self.to_send) + len(self.skipped)

    def skipped_by_reason(self) -> dict[SkipReason, int]:
        counts: dict[SkipReason, int] = {}
        for item in self.skipped:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts


def plan_replay(
    originals: Iterable[ImageUploaded],
    criteria: Criteria,
    request: Request,
    *,
    already_sent: set[str],
    models: ModelState,
    now: datetime,
) -> ReplayPlan:
    """The requests to send for the selected ``originals`` (one per image, in the order
    given) and what is skipped. ``already_sent`` holds event ids this replay has on the
    topic; ``models`` matters only for `missing`."""
    plan = ReplayPlan()
    seen: set[str] = set()
    for original in originals:
        image_id = original.image_id
        if image_id in seen or original.reprocessing is not None:
            continue  # a re-delivered upload, or a reprocessing request: not an original
        seen.add(image_id)
        reason = _skip_reason(original, criteria, request, already_sent, models)
        if reason is not None:
            plan.skipped.append(Skipped(image_id, original.owner, reason))
            continue
        plan.to_send.append(
            reprocess_request(
                original,
                replay_id=request.replay_id,
                requested_by=request.requested_by,
                reason=request.reason,
                model=request.model,
                now=now,
            )
        )
    for image_id in sorted((criteria.image_ids or frozenset()) - seen):
        plan.skipped.append(Skipped(image_id, None, SkipReason.NOT_FOUND))
    return plan


def _skip_reason(
    original: ImageUploaded,
    criteria: Criteria,
    request: Request,
    already_sent: set[str],
    models: ModelState,
) -> SkipReason | None:
    if original.image_id in models.deleted:
        return SkipReason.DELETED
    event_id, _ = reprocess_ids(request.replay_id, original.image_id)
    if event_id in already_sent:
        return SkipReason.ALREADY_SENT
    if criteria.missing:
        if original.image_id in models.completed:
            return SkipReason.HAS_COMPLETED_TASK
        if original.image_id in models.in_progress:
            return SkipReason.IN_PROGRESS
    return None


def summary_counts(plan: ReplayPlan, sent: int) -> Mapping[str, int]:
    """The closing summary's numbers: selected, sent, and skipped per reason."""
    counts: dict[str, int] = {"selected": plan.selected, "sent": sent}
    for reason, count in sorted(plan.skipped_by_reason().items()):
        counts[f"skipped ({reason.value})"] = count
    return counts
