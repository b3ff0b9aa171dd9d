"""Result file names: one per input, never shared, never over an existing file."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.client.naming import (
    FETCH_PATTERN,
    SUBMIT_PATTERN,
    NamingError,
    check_pattern,
    collisions,
    existing,
    render,
)


def test_the_default_name_keeps_the_input_extension_so_same_stems_differ() -> None:
    jpg = render(SUBMIT_PATTERN, fmt="png", path=Path("in/photo.jpg"))
    png = render(SUBMIT_PATTERN, fmt="png", path=Path("in/photo.png"))
    assert (jpg, png) == ("photo.jpg.cutout.png", "photo.png.cutout.png")


def test_fetch_names_by_id_kind_and_format() -> None:
    assert render(FETCH_PATTERN, fmt="webp", image_id="abc", kind="mask") == "abc.mask.webp"


def test_collisions_name_every_input_that_shares_a_target(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "photo.jpg", tmp_path / "b" / "photo.jpg"
    targets = {
        a: tmp_path / "out" / "photo.jpg.cutout.png",
        b: tmp_path / "out" / "photo.jpg.cutout.png",
    }
    (clash,) = collisions(targets)
    assert str(a) in clash and str(b) in clash
    other = {**targets, b: tmp_path / "out" / render("{parent}-{name}", fmt="png", path=b)}
    assert collisions(other) == []


def test_existing_targets_are_listed(tmp_path: Path) -> None:
    there = tmp_path / "x.png"
    there.write_bytes(b"x")
    assert existing({Path("a"): there, Path("b"): tmp_path / "y.png"}) == [there]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("{stem}.{colour}", "unknown field {colour}"),
        ("sub/{name}", "without a folder"),
        ("{name", "not a valid pattern"),
        ("  ", "empty"),
    ],
)
def test_bad_patterns_are_refused_with_a_reason(pattern: str, problem: str) -> None:
    with pytest.raises(NamingError, match=problem):
        check_pattern(pattern)
