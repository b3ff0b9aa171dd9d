from __future__ import annotations

import pytest

from services.webhooks.domain.targets import (
    Refusal,
    Refused,
    TargetPolicy,
    check_address,
    check_url,
)

STRICT = TargetPolicy()
DEV = TargetPolicy(allow_private=True, allow_http=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", Refusal.LOOPBACK),
        ("127.8.9.10", Refusal.LOOPBACK),
        ("::1", Refusal.LOOPBACK),
        ("10.1.2.3", Refusal.PRIVATE),
        ("172.16.0.1", Refusal.PRIVATE),
        ("192.168.1.1", Refusal.PRIVATE),
        ("100.64.0.1", Refusal.PRIVATE),
        ("fd00::1", Refusal.PRIVATE),
        ("169.254.169.254", Refusal.LINK_LOCAL),
        ("fe80::1", Refusal.LINK_LOCAL),
        ("0.0.0.0", Refusal.RESERVED),
        ("::", Refusal.RESERVED),
        ("224.0.0.1", Refusal.RESERVED),
        ("::ffff:127.0.0.1", Refusal.LOOPBACK),
        ("::ffff:169.254.169.254", Refusal.LINK_LOCAL),
        ("2002:7f00:1::", Refusal.LOOPBACK),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", Refusal.PRIVATE),  # NAT64 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: Refusal) -> None:
    with pytest.raises(Refused) as refused:
        check_address(address, STRICT)
    assert refused.value.reason is reason
    check_address(address, DEV)  # the development setting lets them through


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    check_address(address, STRICT)


def test_url_checks() -> None:
    assert check_url("https://hooks.example.com/x?y=1", STRICT).is_address is False
    with pytest.raises(Refused, match="insecure_scheme"):
        check_url("http://hooks.example.com/", STRICT)
    assert check_url("http://hooks.example.com/", DEV).host == "hooks.example.com"
    with pytest.raises(Refused, match="loopback"):
        check_url("https://127.0.0.1:8443/", STRICT)
    with pytest.raises(Refused, match="loopback"):
        check_url("https://[::1]/", STRICT)
    with pytest.raises(Refused, match="link_local"):
        check_url("https://169.254.169.254/latest/meta-data", STRICT)
    for bad in ("ftp://x.example/", "https:///path", "https://u:p@x.example/", "https://x:99999/"):
        with pytest.raises(Refused, match="invalid_url"):
            check_url(bad, STRICT)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1"])
def test_legacy_numeric_hosts_are_refused_even_in_development(host: str) -> None:
    with pytest.raises(Refused, match="numeric"):
        check_url(f"https://{host}/", DEV)


def test_hex_looking_names_are_names() -> None:
    assert check_url("https://cafe.be/", STRICT).is_address is False
