"""The event contracts: examples, required fields, wrong types, and models-vs-schemas drift."""

from __future__ import annotations

import copy
import json
import re
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from schemas import (
    EVENT_SPECS,
    ContractViolation,
    EventSpec,
    ExecutionProvider,
    ImageDownloaded,
    ImageUploaded,
    ProcessingCompleted,
    ResultKind,
    export,
    spec_for,
    spec_for_topic,
    spec_for_type,
    validate,
    validation,
)
from schemas.validation import field_path, load_schema, schema_violations
from services.common.settings import TopicNames

EXAMPLES = Path(export.PACKAGE_DIR) / "examples"
SPEC_IDS = [spec.name for spec in EVENT_SPECS]
REPROCESSING = {
    "replay_id": "replay-2025-11-21-isnet-fp16",
    "original_event_id": "0f3a9c1e-5b7d-4e2f-a1c3-9d8e7f6a5b4c",
    "requested_by": "ops@acme",
    "reason": "reprocess with the fp16 model",
}


def example(spec: EventSpec) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{spec.name}.json").read_text("utf-8"))
    return data


def full_example(spec: EventSpec) -> dict[str, Any]:
    """The example with every optional object filled, so nested required fields exist."""
    data = example(spec)
    if spec.model is ImageUploaded:
        data["reprocessing"] = dict(REPROCESSING)
    return data


def spec_named(name: str) -> EventSpec:
    return next(spec for spec in EVENT_SPECS if spec.name == name)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else node


def _required_paths(
    node: dict[str, Any], value: Any, defs: dict[str, Any], prefix: tuple[str | int, ...]
) -> list[tuple[str | int, ...]]:
    """Every required property at every level of `value` (first item of arrays)."""
    node = _resolve(node, defs)
    for alternative in node.get("anyOf", []):
        if alternative.get("type") != "null" and value is not None:
            return _required_paths(alternative, value, defs, prefix)
    paths: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for name in node.get("required", []):
            paths.append((*prefix, name))
        for name, child in node.get("properties", {}).items():
            if name in value:
                paths += _required_paths(child, value[name], defs, (*prefix, name))
    elif isinstance(value, list) and value and "items" in node:
        paths += _required_paths(node["items"], value[0], defs, (*prefix, 0))
    return paths


def required_cases() -> list[Any]:
    cases = []
    for spec in EVENT_SPECS:
        schema = load_schema(spec)
        for path in _required_paths(schema, full_example(spec), schema.get("$defs", {}), ()):
            cases.append(pytest.param(spec, path, id=f"{spec.name}:{field_path(path)}"))
    return cases


def without(data: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    parent: Any = out
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return out


def replaced(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    parent: Any = out
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return out


# --- examples -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", EVENT_SPECS, ids=SPEC_IDS)
def test_example_validates_against_its_schema_file_and_model(spec: EventSpec) -> None:
    data = example(spec)
    Draft202012Validator(load_schema(spec)).validate(data)
    event = spec.model.model_validate(data)
    # The example is in canonical form: the model writes it back unchanged.
    assert event.model_dump(mode="json") == data
    assert validate(spec, data) == event


def test_upload_example_with_reprocessing_validates() -> None:
    spec = spec_for(ImageUploaded)
    event = validate(spec, full_example(spec))
    assert isinstance(event, ImageUploaded)
    assert event.reprocessing is not None
    assert event.reprocessing.replay_id == REPROCESSING["replay_id"]


def test_examples_describe_one_image_and_task() -> None:
    events = [example(spec) for spec in EVENT_SPECS]
    assert len({e["image_id"] for e in events}) == 1
    assert len({e["task_id"] for e in events if "task_id" in e}) == 1
    assert [spec.name for spec in EVENT_SPECS if "task_id" not in example(spec)] == ["ImageDeleted"]
    assert len({e["event_id"] for e in events}) == len(events)


# --- required fields ------------------------------------------------------------------

# Pinned so that a field silently becoming optional (or a new one required) fails here.
TOP_LEVEL_REQUIRED = {
    "ImageUploaded": {"original", "options"},
    "ProcessingStarted": {"attempt", "worker_id", "model", "provider"},
    "ProcessingCompleted": {
        "attempt",
        "worker_id",
        "model",
        "provider",
        "results",
        "batch_size",
        "timings",
    },
    "ProcessingFailed": {"attempt", "worker_id", "reason", "message", "retriable"},
    "ImageDownloaded": {"kind"},
    "ImageDeleted": {"deleted_by"},
}
COMMON_REQUIRED = {"event_id", "image_id", "owner", "occurred_at"}
TASK_REQUIRED = {"task_id"}


@pytest.mark.parametrize("spec", EVENT_SPECS, ids=SPEC_IDS)
def test_top_level_required_fields_are_pinned(spec: EventSpec) -> None:
    required = set(load_schema(spec)["required"])
    task = TASK_REQUIRED if spec.name != "ImageDeleted" else set()
    assert required == COMMON_REQUIRED | task | TOP_LEVEL_REQUIRED[spec.name]


def test_required_cases_reach_nested_objects() -> None:
    ids = {case.id for case in required_cases()}
    for expected in (
        "ImageUploaded:original.sha256",
        "ImageUploaded:options.background",
        "ImageUploaded:reprocessing.original_event_id",
        "ProcessingCompleted:results[0].kind",
        "ProcessingCompleted:timings.total_ms",
        "ProcessingFailed:model.sha256",
    ):
        assert expected in ids


@pytest.mark.parametrize(("spec", "path"), required_cases())
def test_removing_a_required_field_fails_naming_it(
    spec: EventSpec, path: tuple[str | int, ...]
) -> None:
    data = without(full_example(spec), path)
    name = field_path(path)

    assert name in {v.field for v in schema_violations(spec, data)}
    with pytest.raises(ValidationError) as model_error:
        spec.model.model_validate(data)
    assert name in {field_path(e["loc"]) for e in model_error.value.errors()}
    with pytest.raises(ContractViolation) as violation:
        validate(spec, data)
    assert violation.value.field == name
    assert name in str(violation.value)


# --- wrong types and values -----------------------------------------------------------

# (event, path, bad value, whether the model alone also rejects it: lax pydantic coerces
# "12" to 12, which is why the JSON Schema is checked first on both sides of Kafka)
WRONG = [
    ("ImageUploaded", ("event_id",), "not-a-uuid", True),
    ("ImageUploaded", ("event_id",), "0F3A9C1E-5B7D-4E2F-A1C3-9D8E7F6A5B4C", True),
    ("ImageUploaded", ("image_id",), "", True),
    ("ImageUploaded", ("image_id",), "../etc/passwd", True),
    ("ImageUploaded", ("owner",), 42, True),
    ("ImageUploaded", ("occurred_at",), "2025-11-21T10:15:30", True),
    ("ImageUploaded", ("occurred_at",), 1732184130, False),
    ("ImageUploaded", ("schema_version",), 0, True),
    ("ImageUploaded", ("original", "size"), "204812", False),
    ("ImageUploaded", ("original", "size"), 0, True),
    ("ImageUploaded", ("original", "width"), 12.5, True),
    ("ImageUploaded", ("original", "sha256"), "abc", True),
    ("ImageUploaded", ("original", "content_type"), "text/plain", True),
    ("ImageUploaded", ("original", "bucket"), "Bad_Bucket", True),
    ("ImageUploaded", ("options", "output_format"), "gif", True),
    ("ImageUploaded", ("options", "background"), "red", True),
    ("ImageUploaded", ("options", "background"), "#FFFFFF", True),
    ("ImageUploaded", ("options", "model"), "", True),
    ("ImageUploaded", ("reprocessing",), "yes", True),
    ("ImageUploaded", ("callback_url",), "ftp://hooks.example.com/", True),
    ("ImageUploaded", ("callback_url",), "https://user@hooks.example.com/", True),
    ("ImageUploaded", ("callback_url",), "https://hooks.example.com/a b", True),
    ("ProcessingStarted", ("attempt",), 0, True),
    ("ProcessingStarted", ("attempt",), "1", False),
    ("ProcessingStarted", ("provider",), "rocm", True),
    ("ProcessingStarted", ("worker_id",), "two words", True),
    ("ProcessingStarted", ("model", "sha256"), None, True),
    ("ProcessingCompleted", ("batch_size",), 0, True),
    ("ProcessingCompleted", ("results",), [], True),
    ("ProcessingCompleted", ("results", 0, "kind"), "trimap", True),
    ("ProcessingCompleted", ("results", 1, "kind"), "cutout", True),
    ("ProcessingCompleted", ("results", 1, "size"), -1, True),
    ("ProcessingCompleted", ("timings", "inference_ms"), -0.5, True),
    ("ProcessingCompleted", ("timings", "total_ms"), "fast", True),
    ("ProcessingFailed", ("reason",), "oops", True),
    ("ProcessingFailed", ("retriable",), "yes", False),
    ("ProcessingFailed", ("retriable",), 1, False),
    ("ProcessingFailed", ("message",), "", True),
    ("ImageDownloaded", ("kind",), "original", True),
    ("ImageDownloaded", ("unexpected",), True, True),
    ("ProcessingCompleted", ("timings", "gpu_ms"), 1.0, True),
]


@pytest.mark.parametrize(
    ("name", "path", "bad", "model_rejects"),
    WRONG,
    ids=[f"{n}:{field_path(p)}={b!r}" for n, p, b, _ in WRONG],
)
def test_wrong_type_or_value_fails_naming_the_field(
    name: str, path: tuple[str | int, ...], bad: Any, model_rejects: bool
) -> None:
    spec = spec_named(name)
    data = replaced(full_example(spec), path, bad)
    field = field_path(path)
    # A duplicate result kind is a property of the list, reported on it.
    expected = "results" if field == "results[1].kind" else field

    with pytest.raises(ContractViolation) as violation:
        validate(spec, data)
    assert violation.value.stage == "JSON Schema"
    assert expected in {v.field for v in violation.value.violations}
    assert expected in str(violation.value)
    if model_rejects:
        with pytest.raises(ValidationError) as model_error:
            spec.model.model_validate(data)
        assert expected in {field_path(e["loc"]) for e in model_error.value.errors()}


def test_unknown_field_is_named_and_called_unknown() -> None:
    spec = spec_for(ImageDownloaded)
    with pytest.raises(ContractViolation) as violation:
        validate(spec, example(spec) | {"colour": "red"})
    assert str(violation.value.violations[0]) == (
        "colour: is not a field of this event (unknown field)"
    )


def test_model_rejects_duplicate_result_kind_on_its_own() -> None:
    data = example(spec_for(ProcessingCompleted))
    data["results"][1]["kind"] = "cutout"
    with pytest.raises(ValidationError, match="exactly one result of kind 'cutout'"):
        ProcessingCompleted.model_validate(data)


# --- model behaviour ------------------------------------------------------------------


def test_occurred_at_is_normalised_to_utc() -> None:
    data = example(spec_for(ImageDownloaded)) | {"occurred_at": "2025-11-21T12:15:33+02:00"}
    event = ImageDownloaded.model_validate(data)
    assert event.occurred_at == datetime(2025, 11, 21, 10, 15, 33, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert event.model_dump(mode="json")["occurred_at"] == "2025-11-21T10:15:33Z"


def test_naive_datetime_is_refused_when_built_in_python() -> None:
    data = example(spec_for(ImageDownloaded)) | {"occurred_at": datetime(2025, 11, 21, 10)}
    with pytest.raises(ValidationError, match="occurred_at"):
        ImageDownloaded.model_validate(data)
    aware = data | {"occurred_at": datetime(2025, 11, 21, 10, tzinfo=timezone(timedelta(hours=8)))}
    assert ImageDownloaded.model_validate(aware).occurred_at.hour == 2


def test_events_are_immutable() -> None:
    event = ImageDownloaded.model_validate(example(spec_for(ImageDownloaded)))
    with pytest.raises(ValidationError):
        event.kind = ResultKind.MASK  # type: ignore[misc]


def test_an_image_uploaded_of_schema_version_1_still_validates() -> None:
    spec = spec_for(ImageUploaded)
    data = example(spec)
    del data["callback_url"]
    data["schema_version"] = 1
    event = validate(spec, data)
    assert isinstance(event, ImageUploaded)
    assert event.callback_url is None and event.schema_version == 1
    assert ImageUploaded.model_validate(data | {"schema_version": 2}).schema_version == 2


def test_schema_version_defaults_to_1_when_absent() -> None:
    data = example(spec_for(ImageDownloaded))
    del data["schema_version"]
    assert validate(spec_for(ImageDownloaded), data).schema_version == 1


def test_onnxruntime_provider_names_map_to_contract_values() -> None:
    assert ExecutionProvider.from_onnxruntime("CUDAExecutionProvider") is ExecutionProvider.CUDA
    assert ExecutionProvider.from_onnxruntime("CPUExecutionProvider") is ExecutionProvider.CPU
    with pytest.raises(ValueError, match="ROCMExecutionProvider"):
        ExecutionProvider.from_onnxruntime("ROCMExecutionProvider")


# --- registry -------------------------------------------------------------------------


def test_registry_types_and_topics_are_unique_and_well_formed() -> None:
    assert len({s.ce_type for s in EVENT_SPECS}) == len(EVENT_SPECS)
    assert len({s.topic for s in EVENT_SPECS}) == len(EVENT_SPECS)
    assert len({s.model for s in EVENT_SPECS}) == len(EVENT_SPECS)
    for spec in EVENT_SPECS:
        assert re.fullmatch(r"io\.clearcut\.image(\.[a-z]+)+\.v[1-9][0-9]*", spec.ce_type)
        assert spec.ce_type.removeprefix("io.clearcut.").removesuffix(".v1") == spec.topic


def test_registry_lookups_agree() -> None:
    for spec in EVENT_SPECS:
        assert spec_for(spec.model) is spec
        assert spec_for_type(spec.ce_type) is spec
        assert spec_for_topic(spec.topic) is spec
    assert spec_for_type("io.clearcut.image.uploaded.v2") is None
    assert spec_for_topic("image.uploaded.dlq") is None


def test_registry_topics_are_the_settings_base_topics() -> None:
    assert [s.topic for s in EVENT_SPECS] == TopicNames(prefix="").event_topics


# --- schema files and drift -----------------------------------------------------------


@pytest.mark.parametrize("spec", EVENT_SPECS, ids=SPEC_IDS)
def test_schema_file_is_a_documented_draft_2020_12_schema(spec: EventSpec) -> None:
    schema = load_schema(spec)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:clearcut:schema:{spec.ce_type}"
    assert schema["title"] == spec.name
    assert schema["description"]
    assert schema["x-cloudevents-type"] == spec.ce_type
    assert schema["x-kafka-topic"] == spec.topic
    assert schema["additionalProperties"] is False
    objects = [schema, *schema.get("$defs", {}).values()]
    for node in objects:
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description") or _resolve(prop, schema["$defs"]).get("description"), (
                f"{node.get('title')}.{name} has no description"
            )


@pytest.mark.parametrize("spec", EVENT_SPECS, ids=SPEC_IDS)
def test_schema_file_on_disk_equals_what_the_model_generates(spec: EventSpec) -> None:
    on_disk = (export.SCHEMA_DIR / f"{spec.name}.schema.json").read_text("utf-8")
    assert on_disk == export.render_schema(spec), "stale schema: run python -m schemas.export"
    assert json.loads(on_disk) == export.json_schema(spec)


def test_readme_field_tables_equal_what_the_models_generate() -> None:
    readme = export.README.read_text("utf-8")
    assert readme == export.render_readme(readme), "stale README: run python -m schemas.export"
    for spec in EVENT_SPECS:
        assert f"### {spec.name}" in readme
        assert f"`{spec.ce_type}`" in readme


def test_export_check_passes_on_the_checked_in_files() -> None:
    assert export.main(["--check"]) == 0


def test_export_check_detects_and_write_repairs_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema_dir = tmp_path / "json"
    shutil.copytree(export.SCHEMA_DIR, schema_dir)
    readme = tmp_path / "README.md"
    shutil.copy(export.README, readme)
    monkeypatch.setattr(export, "SCHEMA_DIR", schema_dir)
    monkeypatch.setattr(export, "README", readme)
    edited = schema_dir / "ProcessingStarted.schema.json"
    edited.write_text(edited.read_text("utf-8").replace('"cuda"', '"rocm"'), "utf-8")
    (schema_dir / "ImageDownloaded.schema.json").unlink()

    assert set(export.stale_files()) == {edited, schema_dir / "ImageDownloaded.schema.json"}
    assert export.main(["--check"]) == 1
    assert export.main([]) == 0
    assert export.stale_files() == []
    assert export.main(["--check"]) == 0
    assert '"cuda"' in edited.read_text("utf-8")


# --- the compiled check ---------------------------------------------------------------


def _documents() -> list[Any]:
    cases = [pytest.param(spec, full_example(spec), id=spec.name) for spec in EVENT_SPECS]
    cases += [
        pytest.param(spec_named(n), replaced(full_example(spec_named(n)), p, b), id=f"{n}:{b!r}")
        for n, p, b, _ in WRONG
    ]
    cases += [
        pytest.param(spec, without(full_example(spec), path), id=f"{spec.name}-{field_path(path)}")
        for spec, path in (case.values for case in required_cases())
    ]
    return cases


@pytest.mark.parametrize(("spec", "data"), _documents())
def test_compiled_check_agrees_with_jsonschema(spec: EventSpec, data: dict[str, Any]) -> None:
    """What the compiled validator accepts, jsonschema accepts too, except the `contains`
    counts it does not know, which the model refuses on its own; and the reverse."""
    compiled = validation._passes_compiled(spec, data)
    found = schema_violations(spec, data)
    assert compiled == (not found) or (compiled and found[0].field == "results")
    if compiled and found:
        with pytest.raises(ValidationError):
            spec.model.model_validate(data)
