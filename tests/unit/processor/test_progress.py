"""Per-partition progress: commits never pass unfinished work; redeliveries are numbered."""

from __future__ import annotations

from services.processor.domain.progress import Handover, PartitionProgress


def test_the_commit_stops_at_the_lowest_unfinished_offset() -> None:
    progress = PartitionProgress()
    assert progress.committable() is None
    for offset in (5, 6, 7, 8):
        progress.take(offset)
    assert progress.committable() == 5
    progress.finish(7)
    progress.finish(8)
    assert progress.committable() == 5, "7 and 8 are done, 5 and 6 are not"
    progress.finish(5)
    assert progress.committable() == 6
    progress.finish(6)
    assert progress.committable() == 9
    assert progress.open == 0


def test_gaps_in_the_offsets_do_not_hold_the_commit_back() -> None:
    progress = PartitionProgress()
    for offset in (10, 13, 20):  # compaction or transaction markers leave gaps
        progress.take(offset)
        progress.finish(offset)
    assert progress.committable() == 21


def test_a_commit_is_pending_only_when_it_changed() -> None:
    progress = PartitionProgress()
    progress.take(0)
    first = progress.pending_commit()
    assert first == (0, "taken=0 attempt=1")
    progress.committed(first)
    assert progress.pending_commit() is None
    progress.take(1)
    assert progress.pending_commit() == (0, "taken=1 attempt=1"), "the mark moved"
    progress.committed((0, "taken=1 attempt=1"))
    progress.finish(0)
    progress.finish(1)
    assert progress.pending_commit() == (2, "taken=1 attempt=1")
    assert progress.last_committed == 0


def test_records_handed_out_before_are_the_next_attempt() -> None:
    handover = Handover.parse("taken=4 attempt=1")
    assert handover == Handover(4, 1)
    progress = PartitionProgress(handover=handover)
    assert [progress.take(o) for o in (3, 4, 5)] == [2, 2, 1]
    assert progress.metadata() == "taken=5 attempt=2", "the open range is being redone"
    for offset in (3, 4):
        progress.finish(offset)
    assert progress.metadata() == "taken=5 attempt=1", "the redone range is committed"


def test_a_second_handover_counts_one_more() -> None:
    progress = PartitionProgress(handover=Handover.parse("taken=9 attempt=2"))
    assert progress.take(9) == 3
    assert progress.metadata() == "taken=9 attempt=3"


def test_missing_or_foreign_metadata_means_first_attempts() -> None:
    for metadata in (None, "", "written by another tool", "taken=x attempt=1"):
        assert Handover.parse(metadata) == Handover()
    assert PartitionProgress(handover=Handover.parse(None)).take(0) == 1
