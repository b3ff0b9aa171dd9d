"""Model routing: the default and a canary share, sticky per image."""

from __future__ import annotations

import uuid

import pytest

from services.processor.domain.routing import (
    InvalidRouting,
    ModelRouting,
    canary_position,
    choose_model,
)


def test_a_canary_takes_its_share_of_images_that_ask_for_no_model() -> None:
    routing = ModelRouting(default="stable", canary="next", canary_percent=30)
    ids = [str(uuid.uuid4()) for _ in range(20_000)]
    chosen = [choose_model(None, i, routing) for i in ids]
    share = chosen.count("next") / len(ids)
    assert 0.28 < share < 0.32
    assert set(chosen) == {"stable", "next"}


def test_an_image_stays_on_its_side_and_a_larger_share_only_moves_images_to_the_canary() -> None:
    ids = [str(uuid.uuid4()) for _ in range(2_000)]
    at_10 = ModelRouting(canary="next", canary_percent=10)
    at_50 = ModelRouting(canary="next", canary_percent=50)
    first = {i: choose_model(None, i, at_10) for i in ids}
    assert first == {i: choose_model(None, i, at_10) for i in ids}
    for i in ids:
        if first[i] == "next":
            assert choose_model(None, i, at_50) == "next"
    assert all(0 <= canary_position(i) < 100 for i in ids)


def test_a_model_asked_for_by_name_is_never_rerouted() -> None:
    routing = ModelRouting(default="stable", canary="next", canary_percent=100)
    assert choose_model("u2netp", "img", routing) == "u2netp"
    assert choose_model(None, "img", routing) == "next"
    assert choose_model(None, "img", ModelRouting(default="stable")) == "stable"
    assert choose_model(None, "img", ModelRouting()) is None


def test_routing_round_trips_and_bad_documents_are_refused() -> None:
    routing = ModelRouting(default="a", canary="b", canary_percent=12.5)
    assert ModelRouting.from_json(routing.to_json()) == routing
    for bad in (b"[1]", b"{not json", b'{"canary_percent": 150}', b'{"default": 3}'):
        with pytest.raises(InvalidRouting):
            ModelRouting.from_json(bad)
