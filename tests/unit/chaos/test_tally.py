"""Counting a burst's outcomes: lost, failed with reasons, duplicated by row or by event."""

from __future__ import annotations

from collections import Counter

from services.chaos.tally import TaskRow, settled, tally


def test_every_outcome_is_counted_once() -> None:
    rows = [
        TaskRow("a", "ta", "completed"),
        TaskRow("b", "tb", "failed", "undecodable"),
        TaskRow("c", "tc", "processing"),
        TaskRow("x", "tx", "completed"),  # not one of this burst's images
    ]
    result = tally(
        "s", 5, ["a", "b", "c", "d"], rows, [("a", "ta")], Counter({"202": 4}), Counter()
    )
    assert (result.uploads, result.accepted, result.completed) == (5, 4, 1)
    assert result.failed == Counter({"undecodable": 1})
    assert result.lost == ["c", "d"]
    assert result.duplicated == []
    assert not result.ok


def test_two_completed_rows_of_one_image_are_a_duplicate() -> None:
    rows = [TaskRow("a", "t1", "completed"), TaskRow("a", "t2", "completed")]
    result = tally("s", 1, ["a"], rows, [("a", "t1"), ("a", "t2")], Counter(), Counter())
    assert result.duplicated == ["a"]
    assert result.completed == 1


def test_two_completion_events_of_one_task_are_a_duplicate() -> None:
    rows = [TaskRow("a", "t1", "completed"), TaskRow("b", "t2", "completed")]
    events = [("a", "t1"), ("a", "t1"), ("b", "t2")]
    result = tally("s", 2, ["a", "b"], rows, events, Counter(), Counter())
    assert result.duplicated == ["a"]
    assert result.ok is False


def test_a_bad_status_fails_the_verdict_even_when_nothing_is_lost() -> None:
    rows = [TaskRow("a", "t1", "completed")]
    result = tally("s", 1, ["a"], rows, [("a", "t1")], Counter({"500": 1}), Counter({"500": 1}))
    assert result.lost == [] and result.duplicated == []
    assert not result.ok


def test_settled_needs_a_terminal_task_for_every_image() -> None:
    assert not settled(["a", "b"], [TaskRow("a", "t", "completed"), TaskRow("b", "u", "pending")])
    assert settled(["a", "b"], [TaskRow("a", "t", "failed"), TaskRow("b", "u", "completed")])
    assert settled([], [])
