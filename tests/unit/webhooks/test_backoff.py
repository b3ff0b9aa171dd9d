from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.webhooks.domain.backoff import RetryPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_delays_double_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_seconds=10, max_interval_seconds=3600)
    assert policy.schedule(10) == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert policy.delay(500) == 3600  # no overflow for very many attempts


def test_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy(initial_seconds=100, jitter=0.1)
    assert policy.delay(1, spread=0.0) == pytest.approx(90)
    assert policy.delay(1, spread=0.999999) == pytest.approx(110, abs=0.001)


def test_no_attempt_after_the_deadline() -> None:
    policy = RetryPolicy(initial_seconds=10, max_interval_seconds=3600, deadline_seconds=86400)
    assert policy.next_attempt(T0, T0, 1) == T0 + timedelta(seconds=10)
    late = T0 + timedelta(hours=23, minutes=30)
    assert policy.next_attempt(T0, late, 12) is None  # would land after 24 h
    assert policy.next_attempt(T0, late, 1) == late + timedelta(seconds=10)


def test_twenty_four_hours_hold_about_thirty_attempts_with_the_defaults() -> None:
    policy = RetryPolicy()
    now, attempts = T0, 1
    while (at := policy.next_attempt(T0, now, attempts)) is not None:
        now, attempts = at, attempts + 1
    assert now <= T0 + timedelta(days=1)
    assert 25 <= attempts <= 35


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().delay(0)
