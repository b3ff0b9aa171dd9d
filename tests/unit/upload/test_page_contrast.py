"""The page's text and background colours pass WCAG AA (4.5:1 for text)."""

from __future__ import annotations

import re

import pytest

from services.upload.api.routes_page import PAGE_DIR

CSS = (PAGE_DIR / "assets" / "style.css").read_text(encoding="utf-8")
VARIABLES: dict[str, str] = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour(name: str) -> str:
    return VARIABLES.get(name, name)


# (text, background) pairs as the stylesheet uses them.
PAIRS = [
    ("ink", "paper"),
    ("muted", "paper"),
    ("muted", "soft"),
    ("accent-dark", "paper"),
    ("#ffffff", "accent"),
    ("#ffffff", "accent-dark"),
    ("accent-dark", "#e8f0fe"),
    ("danger", "paper"),
    ("danger", "#fdecea"),
    ("#8c1d18", "#fdecea"),
    ("ok", "paper"),
    ("ok", "#e6f4ea"),
    ("#5f5f6a", "soft"),
]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_contrast_passes_aa(text: str, background: str) -> None:
    assert contrast(colour(text), colour(background)) >= 4.5


def test_the_colours_are_those_of_the_stylesheet() -> None:
    for name in ("ink", "muted", "paper", "soft", "accent", "accent-dark", "danger", "ok"):
        assert name in VARIABLES
    for literal in ("#e8f0fe", "#fdecea", "#8c1d18", "#e6f4ea", "#5f5f6a"):
        assert literal in CSS
