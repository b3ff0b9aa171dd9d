"""Names of the files in a ZIP of results. Pure."""

from __future__ import annotations

import re

from schemas import ResultKind

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 100


def entry_stem(name: str | None, image_id: str) -> str:
    """A safe file-name stem: the client's name without its extension and path, reduced to
    letters, digits, '.', '_' and '-'; the image id when nothing is left."""
    if name:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        if "." in base:
            base = base.rsplit(".", 1)[0]
        stem = _UNSAFE.sub("-", base).strip(".-_")[:MAX_STEM]
        if stem:
            return stem
    return image_id


def entry_names(
    items: list[tuple[str, str | None]], kinds: list[ResultKind], extensions: dict[str, str]
) -> list[tuple[str, ResultKind, str]]:
    """``(image id, kind, file name)`` for every image and kind, names unique in the archive
    (a repeated stem gets ``-2``, ``-3`` ...). ``extensions`` maps image id to the cut-out's
    extension; masks are PNG."""
    used: set[str] = set()
    out: list[tuple[str, ResultKind, str]] = []
    for image_id, name in items:
        stem = entry_stem(name, image_id)
        candidate, n = stem, 1
        while candidate in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate)
        for kind in kinds:
            ext = extensions.get(image_id, "png") if kind is ResultKind.CUTOUT else "png"
            out.append((image_id, kind, f"{candidate}-{kind.value}.{ext}"))
    return out
