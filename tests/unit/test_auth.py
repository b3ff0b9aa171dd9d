from __future__ import annotations

import pytest

from services.common.auth import (
    KEY_PREFIX,
    AuthSettings,
    InvalidOwner,
    bearer_token,
    check_owner,
    generate_key,
    hash_key,
)


def test_keys_are_random_prefixed_and_long() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) >= len(KEY_PREFIX) + 43  # 32 random bytes, base64url


def test_only_the_sha256_of_a_key_is_stored() -> None:
    assert hash_key("dev-key") == "7e9f8fd111802be56c379d597842e29b2cebd35ff2133d431a49fa556a18704e"
    assert hash_key("dev-key") != hash_key("dev-key ")


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer a b", None),
        ("", None),
        (None, None),
        ("Bearer " + "x" * 300, None),
    ],
)
def test_bearer_tokens_are_read_from_the_authorization_header(
    header: str | None, key: str | None
) -> None:
    assert bearer_token(header) == key


@pytest.mark.parametrize("owner", ["dev", "alice@example.com", "team.a-1_b"])
def test_owner_names_that_events_can_carry_are_accepted(owner: str) -> None:
    assert check_owner(owner) == owner


@pytest.mark.parametrize("owner", ["", "-lead", "with space", "x" * 129, "ümlaut"])
def test_owner_names_events_cannot_carry_are_refused(owner: str) -> None:
    with pytest.raises(InvalidOwner):
        check_owner(owner)


def test_development_key_defaults_to_dev_key_for_dev() -> None:
    settings = AuthSettings()
    assert settings.dev_key.get_secret_value() == "dev-key"
    assert settings.dev_owner == "dev"
