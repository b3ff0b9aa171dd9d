"""Settings of the websocket notifier; env prefix ``CLEARCUT_NOTIFIER_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_NOTIFIER_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the websocket server binds to.")
    port: int = Field(8081, description="Port of the websocket server.")
