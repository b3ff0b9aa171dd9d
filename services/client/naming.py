"""Where each result is written: a name pattern, unique names, never a silent overwrite. Pure."""

from __future__ import annotations

import string
from collections import defaultdict
from pathlib import Path

SUBMIT_PATTERN = "{name}.cutout.{format}"
FETCH_PATTERN = "{id}.{kind}.{format}"
FIELDS = ("stem", "ext", "name", "parent", "id", "kind", "format")


class NamingError(ValueError):
    """A pattern or a set of names that cannot be used; the message says why."""


def check_pattern(pattern: str, *, allowed: tuple[str, ...] = FIELDS) -> None:
    """Raise `NamingError` for a pattern with unknown fields, a path separator or no text."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        raise NamingError(f"{pattern!r} is not a valid pattern: {exc}") from None
    unknown = sorted({f for f in fields if f not in allowed})
    if unknown:
        raise NamingError(
            f"unknown field {', '.join('{' + f + '}' for f in unknown)} in {pattern!r}; "
            f"use {', '.join('{' + f + '}' for f in allowed)}"
        )
    if "/" in pattern or "\\" in pattern:
        raise NamingError(f"{pattern!r} must be a file name, without a folder")
    if not pattern.strip():
        raise NamingError("the name pattern is empty")


def render(
    pattern: str,
    *,
    fmt: str,
    path: Path | None = None,
    image_id: str | None = None,
    kind: str = "cutout",
) -> str:
    values = {
        "stem": path.stem if path else (image_id or ""),
        "ext": path.suffix.lstrip(".") if path else "",
        "name": path.name if path else (image_id or ""),
        "parent": path.resolve().parent.name if path else "",
        "id": image_id or "",
        "kind": kind,
        "format": fmt,
    }
    return pattern.format(**values)


def uses_id(pattern: str) -> bool:
    return any(name == "id" for _, name, _, _ in string.Formatter().parse(pattern))


def collisions(targets: dict[Path, Path]) -> list[str]:
    """One message per output name that two or more inputs would share."""
    by_target: dict[Path, list[Path]] = defaultdict(list)
    for source, target in targets.items():
        by_target[target].append(source)
    return [
        f"{', '.join(str(s) for s in sources)} would all be saved as {target}"
        for target, sources in sorted(by_target.items())
        if len(sources) > 1
    ]


def existing(targets: dict[Path, Path]) -> list[Path]:
    return sorted({t for t in targets.values() if t.exists()})
