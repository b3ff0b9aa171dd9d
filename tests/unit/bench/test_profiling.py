"""Summaries of sampled stacks (py-spy's collapsed format)."""

from __future__ import annotations

import pytest

from bench.profiling import function_of, hot_frames, parse_collapsed, samples_in

STACKS = """\
main (app.py:1);handle (pipeline.py:10);run (session.py:5) 40
main (app.py:1);handle (pipeline.py:12);run (session.py:6) 30
main (app.py:1);handle (pipeline.py:10);encode (png.py:3) 20
main (app.py:1);poll (loop.py:9) 10
garbage line
"""


def test_collapsed_lines_become_stacks_of_functions_with_counts() -> None:
    stacks = parse_collapsed(STACKS)
    assert len(stacks) == 4
    assert stacks[0] == (["main (app.py)", "handle (pipeline.py)", "run (session.py)"], 40)
    assert samples_in(STACKS) == 100


def test_a_function_is_its_name_and_file_whatever_the_line() -> None:
    assert function_of("resize_bilinear (services/processor/domain/tensors.py:52)") == (
        "resize_bilinear (services/processor/domain/tensors.py)"
    )
    assert function_of("<native>") == "<native>"


def test_hot_frames_rank_by_self_time_and_give_total_time() -> None:
    frames = {f.frame: f for f in hot_frames(STACKS)}
    first = hot_frames(STACKS)[0]
    assert first.frame == "run (session.py)"
    assert first.self_share == pytest.approx(0.7)
    assert frames["handle (pipeline.py)"].self_share == 0.0
    assert frames["handle (pipeline.py)"].total_share == pytest.approx(0.9)
    assert frames["main (app.py)"].total_share == pytest.approx(1.0)


def test_a_frame_repeated_in_one_stack_counts_once_in_its_total() -> None:
    frames = hot_frames("a;b;a 10\nc 10\n")
    assert {f.frame: f.total_share for f in frames}["a"] == pytest.approx(0.5)


def test_no_samples_no_frames() -> None:
    assert hot_frames("") == []
