"""Settings of the upload service (HTTP API and projector); env prefix ``CLEARCUT_UPLOAD_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UploadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_UPLOAD_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    port: int = Field(8080, description="Port of the HTTP API.")
