"""The README's settings table is exactly what the settings models say today."""

from __future__ import annotations

from services.cli import settings_doc


def test_readme_settings_table_matches_the_settings_models() -> None:
    section = settings_doc.readme_section(settings_doc.README.read_text())
    assert section is not None, "README.md lost its settings markers"
    assert section == settings_doc.render(), "run `clearcut docs settings --write`"


def test_every_settings_field_is_documented() -> None:
    table = settings_doc.render()
    for cls in settings_doc.settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name} has no description"
            assert f"`{prefix}{name.upper()}`" in table
