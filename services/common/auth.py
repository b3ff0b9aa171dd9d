"""API keys and the owners they stand for, shared by the upload API and the notifier.

Keys come from ``CLEARCUT_API_KEYS`` as ``key=owner`` pairs separated by commas. The
development default is one key, ``dev-key``, for the owner ``dev``; set real keys anywhere
else. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLEARCUT_", extra="ignore")

    api_keys: SecretStr = Field(
        SecretStr("dev-key=dev"),
        description="API keys as `key=owner` pairs, comma-separated. Development default only.",
    )

    def key_table(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for pair in self.api_keys.get_secret_value().split(","):
            pair = pair.strip()
            if not pair:
                continue
            key, sep, owner = pair.partition("=")
            if not sep or not key.strip() or not owner.strip():
                raise ValueError("CLEARCUT_API_KEYS entries must look like key=owner")
            table[key.strip()] = owner.strip()
        return table


class ApiKeys:
    """Looks up the owner of an API key."""

    def __init__(self, settings: AuthSettings) -> None:
        self._table = settings.key_table()

    def owner_for(self, key: str | None) -> str | None:
        """The owner of ``key``, or None when the key is missing or unknown."""
        if not key:
            return None
        found: str | None = None
        for known, owner in self._table.items():
            # Compare against every key so timing does not reveal which prefix matched.
            if hmac.compare_digest(known.encode(), key.encode()):
                found = owner
        return found
