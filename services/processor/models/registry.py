"""The model registry: which models exist, how to verify them, feed them and fetch them."""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.values import IDENTIFIER_PATTERN, ModelRef
from services.processor.domain.tensors import InputSpec

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class RegistryError(ValueError):
    """The registry file is missing, malformed, or names an unknown model."""


class SourceKind(StrEnum):
    FILE = "file"
    HTTP = "http"
    S3 = "s3"
    NPM = "npm"
    WHEEL = "wheel"


class InputScale(StrEnum):
    """What a pixel is divided by before ``mean`` and ``std``: 255, or the image's maximum."""

    BY_255 = "255"
    BY_MAX = "max"


class BatchAxis(StrEnum):
    """Whether the graph's first axis is fixed (made symbolic for batches) or dynamic."""

    FIXED = "fixed"
    DYNAMIC = "dynamic"


# SPDX identifiers of licences that forbid commercial use (the Creative Commons NC family
# is matched by its `-NC` part, so every version and variant is covered).
_NON_COMMERCIAL_MARKERS = ("-NC", "NONCOMMERCIAL", "NON-COMMERCIAL")


def forbids_commercial_use(licence: str) -> bool:
    """True for a licence that forbids commercial use, such as ``CC-BY-NC-4.0``."""
    text = licence.upper()
    return any(marker in text for marker in _NON_COMMERCIAL_MARKERS)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Frozen):
    kind: SourceKind
    location: str = Field(min_length=1)
    resource: str | None = Field(
        None,
        description="npm: the resources.json entry; wheel: the member's path in the wheel.",
    )

    @model_validator(mode="after")
    def _needs_resource(self) -> SourceSpec:
        if self.kind in (SourceKind.NPM, SourceKind.WHEEL) and not self.resource:
            raise ValueError(f"a {self.kind.value} source needs `resource`")
        if self.kind is SourceKind.WHEEL and "==" not in self.location:
            raise ValueError("a wheel source's location reads <package>==<version>")
        return self

    def resolve(self, values: dict[str, str]) -> ResolvedSource | None:
        """The source with placeholders filled; ``None`` when one of them is not configured."""
        missing = [name for name in _PLACEHOLDER.findall(self.location) if not values.get(name)]
        if missing:
            return None
        location = _PLACEHOLDER.sub(lambda m: values[m.group(1)].rstrip("/"), self.location)
        return ResolvedSource(kind=self.kind, location=location, resource=self.resource)


class ResolvedSource(_Frozen):
    kind: SourceKind
    location: str
    resource: str | None = None

    def describe(self) -> str:
        """``file:/path``, the URL itself for http(s) and s3, ``npm:package#resource``,
        ``wheel:package==version#member``."""
        if self.kind in (SourceKind.HTTP, SourceKind.S3):
            return self.location
        suffix = f"#{self.resource}" if self.resource else ""
        return f"{self.kind.value}:{self.location}{suffix}"


class ModelSpec(_Frozen):
    name: Annotated[str, Field(pattern=IDENTIFIER_PATTERN, max_length=128)]
    version: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    description: str = ""
    family: str = Field("", description="Model family, e.g. isnet, u2net, birefnet.")
    licence: str = Field("", description="SPDX identifier of the weights' licence.")
    licence_note: str = ""
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(gt=0)
    input_size: tuple[int, int] = Field(description="width, height")
    input_scale: InputScale = InputScale.BY_255
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output_index: int = Field(0, ge=0)
    sigmoid: bool = Field(False, description="The mask output is logits: apply a sigmoid.")
    batch_axis: BatchAxis = BatchAxis.FIXED
    sources: tuple[SourceSpec, ...] = Field(min_length=1)

    @property
    def commercial_use(self) -> bool:
        return not forbids_commercial_use(self.licence)

    @model_validator(mode="after")
    def _positive(self) -> ModelSpec:
        if min(self.input_size) <= 0 or min(self.std) <= 0:
            raise ValueError("input_size and std must be positive")
        return self

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version, sha256=self.sha256)

    @property
    def input_spec(self) -> InputSpec:
        width, height = self.input_size
        return InputSpec(
            width=width,
            height=height,
            mean=self.mean,
            std=self.std,
            divide_by_max=self.input_scale is InputScale.BY_MAX,
        )


class Registry(_Frozen):
    default: str
    models: tuple[ModelSpec, ...] = Field(alias="model", min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        names = [m.name for m in self.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        if self.default not in names:
            raise ValueError(f"default model {self.default!r} is not listed")
        return self

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str | None) -> ModelSpec:
        """The named model, or the default for ``None``; ``RegistryError`` if unknown."""
        wanted = name or self.default
        for model in self.models:
            if model.name == wanted:
                return model
        raise RegistryError(
            f"no model named {wanted!r} in the registry; known: {', '.join(self.names)}"
        )

    def refusing_non_commercial(self) -> Registry:
        """This registry, or ``RegistryError`` naming every model whose licence forbids
        commercial use (accept them with ``CLEARCUT_PROCESSOR_ACCEPT_NON_COMMERCIAL``)."""
        refused = [f"{m.name} ({m.licence})" for m in self.models if not m.commercial_use]
        if refused:
            raise RegistryError(
                "the registry lists models whose weights forbid commercial use: "
                f"{', '.join(refused)}; remove them or set "
                "CLEARCUT_PROCESSOR_ACCEPT_NON_COMMERCIAL=true to accept their licence"
            )
        return self

    def with_default(self, name: str | None) -> Registry:
        """This registry with another default model (checked to exist)."""
        if not name:
            return self
        self.get(name)
        return self.model_copy(update={"default": name})


def load_registry(path: Path) -> Registry:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"model registry {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"model registry {path} is not valid TOML: {exc}") from None
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(f"model registry {path} is invalid: {exc}") from None
