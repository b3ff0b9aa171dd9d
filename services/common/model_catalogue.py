"""The public side of the processor's model registry: which models can be asked for by name,
with what a person choosing one needs to know (description, input size, licence).

The registry file (TOML, ``services/processor/models/registry.toml``) belongs to the
processor; this reader takes only the public fields and ignores the rest (sources, checksums,
normalisation and any field added later), so the upload API can list the models and refuse an
unknown name without importing the processor.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.common.settings import REPO_ROOT

REGISTRY_FILE = REPO_ROOT / "services" / "processor" / "models" / "registry.toml"


class CatalogueError(ValueError):
    """The registry file is missing or does not describe any model."""


class PublicModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    licence: str = ""
    input_size: tuple[int, int] = Field(description="width, height")


class ModelCatalogue(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    default: str
    models: tuple[PublicModel, ...] = Field(alias="model", min_length=1)

    @model_validator(mode="after")
    def _default_listed(self) -> ModelCatalogue:
        if self.default not in self.names:
            raise ValueError(f"default model {self.default!r} is not listed")
        return self

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def knows(self, name: str) -> bool:
        return name in self.names


def load_catalogue(path: Path = REGISTRY_FILE) -> ModelCatalogue:
    """The public catalogue of the registry at ``path``; `CatalogueError` if it is unusable."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"model registry {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"model registry {path} is not valid TOML: {exc}") from None
    try:
        return ModelCatalogue.model_validate(data)
    except ValidationError as exc:
        raise CatalogueError(f"model registry {path} is invalid: {exc}") from None
