"""Generate the JSON Schemas (and the README's field tables) from the event models.

python -m schemas.export          # rewrite schemas/json/*.schema.json and the README tables
python -m schemas.export --check  # exit 1 if anything on disk differs from the models
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from schemas.registry import EVENT_SPECS, EventSpec
from schemas.validation import schema_filename

DIALECT = "https://json-schema.org/draft/2020-12/schema"
PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_DIR = PACKAGE_DIR / "json"
README = PACKAGE_DIR / "README.md"
FIELDS_BEGIN = "<!-- BEGIN GENERATED FIELDS: python -m schemas.export -->"
FIELDS_END = "<!-- END GENERATED FIELDS -->"


class _Generator(GenerateJsonSchema):
    # Property titles would only repeat the property names.
    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def json_schema(spec: EventSpec) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event, generated from its model."""
    body = spec.model.model_json_schema(mode="validation", schema_generator=_Generator)
    head: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": spec.schema_id,
        "title": spec.name,
        "description": inspect.cleandoc(spec.model.__doc__ or spec.name),
        "x-cloudevents-type": spec.ce_type,
        "x-kafka-topic": spec.topic,
    }
    return head | {k: v for k, v in body.items() if k not in head}


def render_schema(spec: EventSpec) -> str:
    return json.dumps(json_schema(spec), indent=2, ensure_ascii=False) + "\n"


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target: dict[str, Any] = defs[ref.rsplit("/", 1)[-1]]
    return {k: v for k, v in schema.items() if k != "$ref"} | target


def _describe_type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    alternatives = schema.get("anyOf")
    if alternatives:
        return " or ".join(_describe_type(_resolve(a, defs), defs) for a in alternatives)
    schema = _resolve(schema, defs)
    kind = str(schema.get("type", "any"))
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if kind == "array":
        return f"array of {_describe_type(schema.get('items', {}), defs)}"
    details = []
    if "format" in schema:
        details.append(str(schema["format"]))
    else:
        if "pattern" in schema:
            details.append("`" + str(schema["pattern"]).replace("|", "\\|") + "`")
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if high is not None:
            details.append(f"{high} chars" if low == high else f"{low}..{high} chars")
    if "minimum" in schema:
        details.append(f"≥ {schema['minimum']}")
    return f"{kind} {', '.join(details)}" if details else kind


def _rows(schema: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        text = prop.get("description") or _resolve(prop, defs).get("description", "")
        description = str(text).replace("\n", " ").replace("|", "\\|")
        needed = "yes" if name in required else "no"
        rows.append(f"| `{path}` | {_describe_type(prop, defs)} | {needed} | {description} |")
        nested = [_resolve(a, defs) for a in prop.get("anyOf", [prop])]
        for candidate in nested:
            if candidate.get("type") == "object":
                rows += _rows(candidate, defs, f"{path}.")
            elif candidate.get("type") == "array":
                item = _resolve(candidate.get("items", {}), defs)
                if item.get("type") == "object":
                    rows += _rows(item, defs, f"{path}[].")
    return rows


def _event_section(spec: EventSpec) -> list[str]:
    schema = json_schema(spec)
    schema_file = f"json/{schema_filename(spec)}"
    example_file = f"examples/{spec.name}.json"
    return [
        "",
        f"### {spec.name}",
        "",
        str(schema["description"]),
        "",
        f"- CloudEvents type (`ce_type`): `{spec.ce_type}`",
        f"- Topic: `{spec.topic}` (after the configured prefix); key: `image_id`",
        "- Headers: the common set under [Envelope](#envelope), `ce_subject` = `image_id`",
        f"- Schema: [`{schema_file}`]({schema_file}); example: [`{example_file}`]({example_file})",
        "",
        "| field | type | required | description |",
        "|---|---|---|---|",
        *_rows(schema, schema.get("$defs", {})),
    ]


def render_fields() -> str:
    """The README's generated section: topic, type and field table of every event."""
    lines = [FIELDS_BEGIN]
    for spec in EVENT_SPECS:
        lines += _event_section(spec)
    return "\n".join([*lines, "", FIELDS_END])


def render_readme(current: str) -> str:
    """`current` with its generated section replaced by what the models give now."""
    start = current.index(FIELDS_BEGIN)
    end = current.index(FIELDS_END) + len(FIELDS_END)
    return current[:start] + render_fields() + current[end:]


def expected_files() -> dict[Path, str]:
    """Every generated file with the text the models produce now."""
    files = {SCHEMA_DIR / schema_filename(spec): render_schema(spec) for spec in EVENT_SPECS}
    files[README] = render_readme(README.read_text("utf-8"))
    return files


def stale_files() -> list[Path]:
    """Generated files whose content on disk differs from the models (or that are missing)."""
    return [
        path
        for path, text in expected_files().items()
        if not path.exists() or path.read_text("utf-8") != text
    ]


def write_all() -> list[Path]:
    """Write every generated file that changed; returns the paths written."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    stale = stale_files()
    expected = expected_files()
    for path in stale:
        path.write_text(expected[path], "utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if files are stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            sys.stderr.write(f"stale: {path} (run: python -m schemas.export)\n")
        return 1 if stale else 0
    for path in write_all():
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
