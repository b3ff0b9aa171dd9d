from __future__ import annotations

import pytest
from pydantic import SecretStr

from services.common.auth import ApiKeys, AuthSettings


def test_keys_map_to_their_owners() -> None:
    keys = ApiKeys(AuthSettings(api_keys=SecretStr("k1=alice, k2=bob")))
    assert keys.owner_for("k1") == "alice"
    assert keys.owner_for("k2") == "bob"
    assert keys.owner_for("k3") is None
    assert keys.owner_for("") is None
    assert keys.owner_for(None) is None


def test_malformed_key_table_is_refused() -> None:
    with pytest.raises(ValueError, match="key=owner"):
        AuthSettings(api_keys=SecretStr("just-a-key")).key_table()


def test_development_default_is_dev_key() -> None:
    assert ApiKeys(AuthSettings()).owner_for("dev-key") == "dev"
