"""What a request costs against a key's limits, and the headers that say where it stands."""

from __future__ import annotations

from services.upload.domain.limits import RateState, megapixels, upload_units


def test_an_upload_costs_its_megapixels_rounded_up_and_at_least_one_unit() -> None:
    assert upload_units(64, 48) == 1
    assert upload_units(1000, 1000) == 1
    assert upload_units(1000, 1001) == 2
    assert upload_units(2000, 1500) == 3
    assert upload_units(4000, 3000) == 12
    assert megapixels(1000, 600) == 0.6


def test_the_headers_count_down_and_never_go_below_zero() -> None:
    assert RateState(5, 1, 55.2).headers() == {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": "56",
    }
    over = RateState(5, 9, 0.2)
    assert over.remaining == 0 and over.reset_after == 1
    assert RateState(0, 100, 30).headers() == {}  # no limit, no headers
