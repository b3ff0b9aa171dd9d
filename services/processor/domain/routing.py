"""Which model a task runs when its upload asks for none: the default, or a canary. Pure.

Operators change the routing at run time (`clearcut models default`, `clearcut models
canary`); workers read it from their state bucket and apply it to the next tasks without a
restart. A canary takes ``canary_percent`` of the images that ask for the default model,
chosen by a hash of the image id, so an image is sticky: every task of it (a retry, a
reprocess) lands on the same side as long as the percentage is unchanged, and raising the
percentage only moves images from the default to the canary, never back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

ROUTING_KEY = "routing/models.json"
_BUCKETS = 10_000


class InvalidRouting(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ModelRouting:
    default: str | None = None  # None: the registry's default
    canary: str | None = None
    canary_percent: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.canary_percent <= 100.0:
            raise InvalidRouting(f"canary percent {self.canary_percent} is not in 0..100")

    def to_json(self) -> bytes:
        body = {
            "default": self.default,
            "canary": self.canary,
            "canary_percent": self.canary_percent,
        }
        return json.dumps(body, indent=2).encode()

    @staticmethod
    def from_json(data: bytes) -> ModelRouting:
        try:
            body: Any = json.loads(data)
            if not isinstance(body, dict):
                raise TypeError("not an object")
            return ModelRouting(
                default=_name(body.get("default")),
                canary=_name(body.get("canary")),
                canary_percent=float(body.get("canary_percent") or 0.0),
            )
        except (ValueError, TypeError) as exc:
            raise InvalidRouting(f"the model routing is not valid: {exc}") from None


def _name(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"model name {value!r} is not a string")
    return value


def canary_position(image_id: str) -> float:
    """Where an image falls in 0..100, the same on every worker and every time."""
    digest = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS * 100 / _BUCKETS


def choose_model(requested: str | None, image_id: str, routing: ModelRouting) -> str | None:
    """The model name for a task (None: the registry's default). A model the upload asked
    for by name is always honoured; routing applies only to uploads that asked for none."""
    if requested is not None:
        return requested
    if routing.canary and canary_position(image_id) < routing.canary_percent:
        return routing.canary
    return routing.default
