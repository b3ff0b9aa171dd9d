"""The settings table of the README, generated from the settings models themselves."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from services.common.settings import REPO_ROOT

# Every module that defines a settings model, in the order the README lists them.
SETTINGS_MODULES = (
    "services.common.settings",
    "services.common.auth",
    "services.upload.settings",
    "services.processor.settings",
    "services.notifier.settings",
    "services.webhooks.settings",
)
README = REPO_ROOT / "README.md"
BEGIN, END = (
    "<!-- BEGIN SETTINGS (generated: clearcut docs settings --write) -->",
    "<!-- END SETTINGS -->",
)


def settings_classes() -> list[type[BaseSettings]]:
    classes: list[type[BaseSettings]] = []
    for name in SETTINGS_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseSettings) and obj.__module__ == name and not _is_aggregate(obj):
                classes.append(obj)
    return classes


def _is_aggregate(cls: type[BaseSettings]) -> bool:
    """A model made only of other settings models (they are listed on their own)."""
    return all(
        inspect.isclass(f.annotation) and issubclass(f.annotation, BaseModel)
        for f in cls.model_fields.values()
    )


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        return f"`{value.get_secret_value()}` (development only)"
    if isinstance(value, Path):
        text = str(value)
        text = text.replace(str(REPO_ROOT), "<repo>").replace(str(Path.home()), "~")
        return f"`{text}`"
    return f"`{value}`" if value not in ("", None) else "(empty)"


def render() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            rows.append(
                f"| `{prefix}{name.upper()}` | {_default(default)} | {field.description or ''} |"
            )
    return "\n".join(rows)


def readme_section(text: str) -> str | None:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1).rstrip("\n") if match else None


def write_readme() -> bool:
    """Rewrite the README's settings table; return whether it changed."""
    text = README.read_text()
    current = readme_section(text)
    if current is None:
        raise RuntimeError(f"README.md lacks the {BEGIN} ... {END} markers")
    new = render()
    if current == new:
        return False
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    README.write_text(f"{text[:start]}\n{new}\n{text[end:]}")
    return True
