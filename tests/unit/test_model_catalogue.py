"""The public model catalogue reads the processor's registry file and only its public fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.model_catalogue import CatalogueError, load_catalogue

REGISTRY = """
default = "b"

[[model]]
name = "a"
version = "1"
description = "first"
licence = "MIT"
sha256 = "00"
input_size = [320, 320]
family = "u2net"

[[model.sources]]
kind = "file"
location = "/x"

[[model]]
name = "b"
version = "2"
input_size = [1024, 768]
"""


def test_the_registry_of_the_repository_lists_the_default_model() -> None:
    catalogue = load_catalogue()
    assert catalogue.default == "isnet-general-use"
    assert catalogue.knows("isnet-general-use-quint8")
    assert not catalogue.knows("isnet-general-usee")


def test_only_public_fields_are_read(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY)
    catalogue = load_catalogue(path)
    assert catalogue.names == ["a", "b"]
    first, second = catalogue.models
    assert (first.description, first.licence, first.input_size) == ("first", "MIT", (320, 320))
    assert (second.description, second.licence) == ("", "")
    assert not hasattr(first, "sources")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "does not exist"),
        ("default = ", "not valid TOML"),
        ('default = "z"\n[[model]]\nname = "a"\nversion = "1"\ninput_size = [1, 1]\n', "invalid"),
        ('default = "a"\n', "invalid"),
    ],
)
def test_an_unusable_registry_is_an_error(tmp_path: Path, text: str | None, problem: str) -> None:
    path = tmp_path / "registry.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(CatalogueError, match=problem):
        load_catalogue(path)
