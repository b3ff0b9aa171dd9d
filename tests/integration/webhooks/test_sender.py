"""The HTTP sender over real sockets: a local receiver gets the POST when the development
setting allows loopback; a name that resolves to loopback is refused by its resolved address
with the setting off; redirects are not followed; a slow receiver times out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.webhooks.adapters.sender import HttpSender
from services.webhooks.domain.attempts import AttemptOutcome
from services.webhooks.domain.targets import TargetPolicy
from tests.e2e.processes import free_port
from tests.integration.webhooks.receiver import Receiver

DEV = TargetPolicy(allow_private=True, allow_http=True)
STRICT_BUT_HTTP = TargetPolicy(allow_private=False, allow_http=True)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    await r.up()
    try:
        yield r
    finally:
        await r.down()


async def sender(policy: TargetPolicy, limit_s: float = 5.0) -> HttpSender:
    s = HttpSender(policy, limit_s, 4)
    await s.start()
    return s


async def test_a_local_receiver_gets_the_post_in_development(receiver: Receiver) -> None:
    s = await sender(DEV)
    try:
        result = await s.send(f"{receiver.url}/hook?x=1", {"X-Test": "1"}, b'{"a":1}')
    finally:
        await s.close()
    assert result.outcome is AttemptOutcome.DELIVERED and result.status_code == 200
    (got,) = receiver.requests
    assert got.path == "/hook?x=1" and got.body == b'{"a":1}'
    assert got.headers["X-Test"] == "1"
    assert got.headers["Content-Type"] == "application/json"


async def test_a_name_resolving_to_loopback_is_refused_by_its_address(
    receiver: Receiver,
) -> None:
    s = await sender(STRICT_BUT_HTTP)
    try:
        result = await s.send(f"http://localhost:{receiver.port}/hook", {}, b"{}")
    finally:
        await s.close()
    assert result.outcome is AttemptOutcome.REFUSED
    assert result.error is not None and "localhost resolves to" in result.error
    assert "loopback" in result.error
    assert receiver.requests == []  # nothing was sent


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.status, receiver.location = 302, "http://169.254.169.254/latest/meta-data"
    s = await sender(DEV)
    try:
        result = await s.send(f"{receiver.url}/hook", {}, b"{}")
    finally:
        await s.close()
    assert result.status_code == 302 and result.outcome is AttemptOutcome.FAILED
    assert result.description == "HTTP 302: redirects are not followed"
    assert len(receiver.requests) == 1


async def test_a_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.delay = 3.0
    s = await sender(DEV, limit_s=0.5)
    try:
        result = await s.send(f"{receiver.url}/hook", {}, b"{}")
    finally:
        await s.close()
    assert result.outcome is AttemptOutcome.FAILED
    assert result.error == "no answer within 0.5 s"
    assert 400 <= result.duration_ms < 2500


async def test_a_receiver_that_is_down_is_a_failed_attempt_not_a_refusal() -> None:
    s = await sender(DEV)
    try:
        result = await s.send(f"http://127.0.0.1:{free_port()}/hook", {}, b"{}")
    finally:
        await s.close()
    assert result.outcome is AttemptOutcome.FAILED and result.status_code is None
    assert result.error
