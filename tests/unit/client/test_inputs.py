"""Which files a folder submit uploads, and that every other entry is named with why."""

from __future__ import annotations

from pathlib import Path

from services.client.inputs import expand_inputs


def test_folders_expand_to_their_images_and_every_skipped_entry_is_named(tmp_path: Path) -> None:
    (tmp_path / "b.PNG").write_bytes(b"x")
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "deep.jpg").write_bytes(b"x")
    found = expand_inputs([tmp_path])
    assert [f.name for f in found.files] == ["a.jpg", "b.PNG"]
    skipped = {path.name: why for path, why in found.skipped}
    assert set(skipped) == {"notes.txt", "nested"}
    assert "not an image file name" in skipped["notes.txt"]
    assert "not searched recursively" in skipped["nested"]
    assert found.problems == []


def test_missing_paths_and_empty_folders_are_problems_with_a_stable_extension_list(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    found = expand_inputs([tmp_path / "missing.jpg", empty])
    assert found.files == []
    assert len(found.problems) == 2
    assert "no such file" in found.problems[0]
    assert found.problems[1].endswith(
        "folder holds no images (.gif, .jpeg, .jpg, .png, .tif, .tiff, .webp)"
    )
    # The same message every time (it once followed a set's iteration order).
    assert expand_inputs([empty]).problems == expand_inputs([empty]).problems


def test_a_file_given_by_name_is_uploaded_whatever_its_extension(tmp_path: Path) -> None:
    odd = tmp_path / "photo.heic"
    odd.write_bytes(b"x")
    found = expand_inputs([odd])
    assert found.files == [odd] and found.skipped == []
