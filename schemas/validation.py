"""Validate event data against both halves of a contract: the JSON Schema and the model.

The checked-in schema files are what other languages and tools see, so they are what
runtime validation uses; the drift test keeps them equal to what the models generate.

Every message is checked twice on its way (by its producer and by each consumer), so the
check that passes is the one that must be cheap: a validator compiled to Python by
fastjsonschema answers first (10-20 times faster than jsonschema's interpreter). It knows
draft 7, which lacks only `minContains`/`maxContains` of what the schemas use, and the
models check those rules themselves. When it objects, jsonschema's Draft 2020-12 validator
decides and names every violation, so what is accepted and every error message are
jsonschema's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from pydantic import ValidationError as ModelError

from schemas.events import Event
from schemas.registry import EventSpec

ROOT = "(root)"


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a document breaks a contract, with the dotted path of the field."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ContractViolation(ValueError):
    """A document does not satisfy an event's JSON Schema or model."""

    def __init__(self, event_name: str, stage: str, violations: Sequence[Violation]) -> None:
        self.event_name = event_name
        self.stage = stage
        self.violations = tuple(violations)
        shown = "; ".join(str(v) for v in self.violations[:5])
        more = len(self.violations) - 5
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"{event_name} fails its {stage}: {shown}{suffix}")

    @property
    def field(self) -> str:
        """The first failing field."""
        return self.violations[0].field


def schema_filename(spec: EventSpec) -> str:
    return f"{spec.name}.schema.json"


@cache
def load_schema(spec: EventSpec) -> dict[str, Any]:
    """The checked-in JSON Schema of an event."""
    text = resources.files("schemas").joinpath("json", schema_filename(spec)).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _inline_refs(v, defs) for k, v in node.items() if k not in ("$ref", "$defs")}
    ref = node.get("$ref")
    if ref is not None:
        target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        out = target | out
    return out


def _inlined(spec: EventSpec) -> dict[str, Any]:
    """The event's schema with every local `$ref` replaced by its target: resolving
    references took about 40% of each jsonschema validation."""
    schema = load_schema(spec)
    inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    return inlined


@cache
def _validator(spec: EventSpec) -> Draft202012Validator:
    Draft202012Validator.check_schema(load_schema(spec))
    return Draft202012Validator(_inlined(spec))


@cache
def _compiled(spec: EventSpec) -> Callable[[object], object]:
    # Formats are annotations here, as they are for jsonschema without a format checker.
    rules = {k: v for k, v in _inlined(spec).items() if k != "$schema"}
    return fastjsonschema.compile(rules, use_formats=False)


def _passes_compiled(spec: EventSpec, data: object) -> bool:
    try:
        _compiled(spec)(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def field_path(path: Iterable[str | int]) -> str:
    """`("results", 0, "kind")` -> `results[0].kind`; the empty path is the root."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or ROOT


def _join(parent: str, name: str) -> str:
    return name if parent == ROOT else f"{parent}.{name}"


def _schema_violations(error: SchemaError) -> list[Violation]:
    # Descend into anyOf/oneOf alternatives to report the most specific cause.
    error = best_match([error])
    parent = field_path(error.absolute_path)
    instance, rule = error.instance, error.validator_value
    if error.validator == "required" and isinstance(instance, dict) and isinstance(rule, list):
        return [
            Violation(_join(parent, name), "is required") for name in rule if name not in instance
        ]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties", {}))
        return [
            Violation(_join(parent, name), "is not a field of this event (unknown field)")
            for name in sorted(set(instance) - known)
        ]
    return [Violation(parent, error.message)]


def schema_violations(spec: EventSpec, data: object) -> list[Violation]:
    """Everything the JSON Schema finds wrong with `data`, each naming its field."""
    found: dict[tuple[str, str], Violation] = {}
    for error in _validator(spec).iter_errors(data):
        for violation in _schema_violations(error):
            found.setdefault((violation.field, violation.message), violation)
    # Fields sort before their parents, so the first violation is the most specific one.
    return sorted(found.values(), key=lambda v: (v.field + "\uffff", v.message))


def model_violations(error: ModelError) -> list[Violation]:
    """A pydantic error as violations, each naming its field."""
    return [Violation(field_path(item["loc"]), item["msg"]) for item in error.errors()]


def validate(spec: EventSpec, data: object) -> Event:
    """Check `data` (parsed JSON) against the schema, then build the model from it.

    Raises `ContractViolation` naming the failing fields.
    """
    if _passes_compiled(spec, data):
        with contextlib.suppress(ModelError):
            return spec.model.model_validate(data)
    # Something is wrong: jsonschema decides what and names it, then the model.
    violations = schema_violations(spec, data)
    if violations:
        raise ContractViolation(spec.name, "JSON Schema", violations)
    try:
        return spec.model.model_validate(data)
    except ModelError as exc:
        raise ContractViolation(spec.name, "model", model_violations(exc)) from None
