"""File names inside a ZIP of results."""

from __future__ import annotations

from schemas import ResultKind
from services.upload.domain.archive import entry_names, entry_stem


def test_stems_are_safe_and_fall_back_to_the_id() -> None:
    assert entry_stem("Holiday photo.JPG", "id1") == "Holiday-photo"
    assert entry_stem("../../etc/passwd", "id1") == "passwd"
    assert entry_stem("C:\\photos\\cat.png", "id1") == "cat"
    assert entry_stem("....", "id1") == "id1"
    assert entry_stem(None, "id1") == "id1"
    assert entry_stem("ñandú.jpg", "id1") == "and"
    assert len(entry_stem("x" * 300 + ".png", "id1")) == 100


def test_repeated_names_get_a_number_and_each_kind_its_file() -> None:
    names = entry_names(
        [("a", "cat.jpg"), ("b", "cat.jpg"), ("c", None)],
        [ResultKind.CUTOUT, ResultKind.MASK],
        {"a": "png", "b": "webp", "c": "png"},
    )
    assert [n for _, _, n in names] == [
        "cat-cutout.png",
        "cat-mask.png",
        "cat-2-cutout.webp",
        "cat-2-mask.png",
        "c-cutout.png",
        "c-mask.png",
    ]
