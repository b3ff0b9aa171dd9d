"""Replay selection and the reprocessing request it sends: pure, no Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import ImageUploaded
from services.upload.domain.reprocess import NotAnOriginal, reprocess_ids, reprocess_request
from services.upload.replay.runner import new_replay_id
from services.upload.replay.selection import (
    Criteria,
    CriteriaError,
    ModelState,
    Request,
    SkipReason,
    plan_replay,
    summary_counts,
)
from tests.unit.upload import events as ev

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REQUEST = Request(replay_id="replay-1", requested_by="operator", reason="better model", model="B")


def originals(count: int, owner: str = "alice") -> list[ImageUploaded]:
    return [ev.uploaded(f"img-{owner}-{i}", f"task-{owner}-{i}", owner=owner) for i in range(count)]


def test_a_request_derives_its_ids_from_the_replay_and_keeps_the_original() -> None:
    original = ev.uploaded("img-1", "task-1")
    request = reprocess_request(
        original, replay_id="r-1", requested_by="op", reason="why", model="B", now=NOW
    )
    assert (request.event_id, request.task_id) == reprocess_ids("r-1", "img-1")
    assert request.task_id != original.task_id and request.event_id != original.event_id
    assert request.original == original.original and request.owner == original.owner
    assert request.options.model == "B"
    assert request.options.output_format == original.options.output_format
    assert request.reprocessing is not None
    assert request.reprocessing.original_event_id == original.event_id
    assert request.reprocessing.requested_by == "op" and request.reprocessing.reason == "why"
    assert request.occurred_at == NOW
    again = reprocess_request(
        original, replay_id="r-1", requested_by="op", reason="why", model="B", now=NOW
    )
    assert again == request
    other = reprocess_request(
        original, replay_id="r-2", requested_by="op", reason=None, model="B", now=NOW
    )
    assert other.event_id != request.event_id and other.task_id != request.task_id


def test_without_a_model_the_original_request_is_kept() -> None:
    original = ev.uploaded("img-1", "task-1")
    chosen = original.options.model_copy(update={"model": "A"})
    original = original.model_copy(update={"options": chosen})
    request = reprocess_request(
        original, replay_id="r", requested_by="op", reason=None, model=None, now=NOW
    )
    assert request.options.model == "A"


def test_a_reprocessing_request_is_no_basis_for_another() -> None:
    replayed = ev.uploaded("img-1", "task-2", replay=True)
    with pytest.raises(NotAnOriginal):
        reprocess_request(
            replayed, replay_id="r", requested_by="op", reason=None, model=None, now=NOW
        )


def test_every_selected_original_is_sent_once() -> None:
    uploads = originals(3)
    plan = plan_replay(
        [*uploads, uploads[0]],  # a re-delivered upload
        Criteria(owner="alice"),
        REQUEST,
        already_sent=set(),
        models=ModelState(),
        now=NOW,
    )
    assert [e.image_id for e in plan.to_send] == [u.image_id for u in uploads]
    assert {e.reprocessing.replay_id for e in plan.to_send if e.reprocessing} == {"replay-1"}
    assert plan.selected == 3 and not plan.skipped


def test_what_this_replay_sent_before_is_skipped() -> None:
    uploads = originals(3)
    sent_before = {reprocess_ids("replay-1", uploads[1].image_id)[0]}
    plan = plan_replay(
        uploads,
        Criteria(owner="alice"),
        REQUEST,
        already_sent=sent_before,
        models=ModelState(),
        now=NOW,
    )
    assert [e.image_id for e in plan.to_send] == [uploads[0].image_id, uploads[2].image_id]
    assert [(s.image_id, s.reason) for s in plan.skipped] == [
        (uploads[1].image_id, SkipReason.ALREADY_SENT)
    ]


def test_missing_skips_completed_and_in_progress_images() -> None:
    done, busy, todo = originals(3)
    plan = plan_replay(
        [done, busy, todo],
        Criteria(missing=True),
        REQUEST,
        already_sent=set(),
        models=ModelState(frozenset({done.image_id}), frozenset({busy.image_id})),
        now=NOW,
    )
    assert [e.image_id for e in plan.to_send] == [todo.image_id]
    assert plan.skipped_by_reason() == {
        SkipReason.HAS_COMPLETED_TASK: 1,
        SkipReason.IN_PROGRESS: 1,
    }
    counts = summary_counts(plan, sent=1)
    assert counts == {
        "selected": 3,
        "sent": 1,
        "skipped (has_completed_task)": 1,
        "skipped (in_progress)": 1,
    }


def test_model_state_is_ignored_unless_missing_is_asked() -> None:
    (done,) = originals(1)
    plan = plan_replay(
        [done],
        Criteria(owner="alice"),
        REQUEST,
        already_sent=set(),
        models=ModelState(frozenset({done.image_id})),
        now=NOW,
    )
    assert len(plan.to_send) == 1


def test_ids_not_found_on_the_topic_are_reported() -> None:
    (found,) = originals(1)
    plan = plan_replay(
        [found],
        Criteria(image_ids=frozenset({found.image_id, "img-gone"})),
        REQUEST,
        already_sent=set(),
        models=ModelState(),
        now=NOW,
    )
    assert [e.image_id for e in plan.to_send] == [found.image_id]
    assert [(s.image_id, s.reason) for s in plan.skipped] == [("img-gone", SkipReason.NOT_FOUND)]


def test_criteria_match_originals_by_time_owner_and_id() -> None:
    upload = ev.uploaded("img-1", "task-1", owner="alice")
    at = NOW
    assert Criteria(since=at, until=at + timedelta(seconds=1)).matches(upload, at)
    assert not Criteria(since=at + timedelta(microseconds=1)).matches(upload, at)
    assert not Criteria(until=at).matches(upload, at)  # until is exclusive
    assert Criteria(owner="alice").matches(upload, at)
    assert not Criteria(owner="bob").matches(upload, at)
    assert Criteria(image_ids=frozenset({"img-1"})).matches(upload, at)
    assert not Criteria(image_ids=frozenset({"img-2"})).matches(upload, at)
    replayed = ev.uploaded("img-1", "task-2", replay=True)
    assert not Criteria(owner="alice").matches(replayed, at)


@pytest.mark.parametrize(
    ("criteria", "model", "message"),
    [
        (Criteria(), "B", "choose what to replay"),
        (Criteria(since=NOW, until=NOW), "B", "is not before"),
        (Criteria(missing=True), None, "give --model"),
        (Criteria(since=datetime(2026, 1, 1)), "B", "timezone"),
    ],
)
def test_contradictory_criteria_are_refused(
    criteria: Criteria, model: str | None, message: str
) -> None:
    with pytest.raises(CriteriaError, match=message):
        criteria.check(model)


def test_replay_ids_sort_by_time_and_are_identifiers() -> None:
    replay_id = new_replay_id(NOW, "abc123")
    assert replay_id == "replay-20260301t120000z-abc123"
    ImageUploaded.model_validate(
        ev.uploaded("img-1", "t").model_dump()
        | {
            "reprocessing": {
                "replay_id": new_replay_id(NOW),
                "original_event_id": ev.uploaded("i", "t").event_id,
                "requested_by": "op",
            }
        }
    )


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request("bad id", "op", None, None), "replay id 'bad id'"),
        (Request("r", "op", None, "-model"), "model '-model'"),
        (Request("r", "", None, None), "requester"),
        (Request("r", "op", "x" * 1001, None), "reason"),
    ],
)
def test_requests_that_the_contract_would_refuse_are_refused_first(
    request_: Request, message: str
) -> None:
    with pytest.raises(CriteriaError, match=message):
        request_.check()
    REQUEST.check()


def test_deleted_images_are_never_replayed_whatever_the_criteria() -> None:
    uploads = originals(3)
    gone = uploads[1].image_id
    plan = plan_replay(
        uploads,
        Criteria(owner="alice"),
        REQUEST,
        already_sent=set(),
        models=ModelState(deleted=frozenset({gone})),
        now=NOW,
    )
    assert [e.image_id for e in plan.to_send] == [uploads[0].image_id, uploads[2].image_id]
    assert [(s.image_id, s.reason) for s in plan.skipped] == [(gone, SkipReason.DELETED)]
    assert summary_counts(plan, 2)["skipped (deleted)"] == 1
