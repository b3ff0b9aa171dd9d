"""Which files a submit uploads, and which it skips and why: pure apart from listing folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = (".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


@dataclass
class Inputs:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)
    problems: list[str] = field(default_factory=list)  # stop before uploading anything


def suffix_list() -> str:
    return ", ".join(IMAGE_SUFFIXES)


def expand_inputs(paths: list[Path]) -> Inputs:
    """Files as given (the server sniffs their type), folders as the images directly in them
    (sorted by name). Everything in a folder that is not uploaded is listed in ``skipped``."""
    found = Inputs()
    for path in paths:
        if path.is_dir():
            images = 0
            for entry in sorted(path.iterdir()):
                if entry.is_dir():
                    found.skipped.append(
                        (entry, "a folder inside a folder; folders are not searched recursively")
                    )
                elif entry.suffix.lower() not in IMAGE_SUFFIXES:
                    found.skipped.append(
                        (entry, f"not an image file name (expected {suffix_list()})")
                    )
                else:
                    found.files.append(entry)
                    images += 1
            if not images:
                found.problems.append(f"{path}: folder holds no images ({suffix_list()})")
        elif path.is_file():
            found.files.append(path)
        else:
            found.problems.append(f"{path}: no such file or folder")
    return found
