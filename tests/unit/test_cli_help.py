"""`clearcut --help` reads as help: a flag carries no type label."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from services.cli.main import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            found += _commands(command, (*path, name))
    return found


def test_no_flag_is_labelled_with_a_type() -> None:
    root = typer.main.get_command(app)
    paths = _commands(root)
    assert len(paths) > 20
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
