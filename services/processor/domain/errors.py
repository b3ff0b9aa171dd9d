"""Why a task failed, as the contracts name it: a closed reason and whether to try again."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.values import FailureReason

# Causes that a later attempt may cure; everything else is final.
_TRANSIENT = frozenset(
    {FailureReason.STORAGE_UNAVAILABLE, FailureReason.TIMEOUT, FailureReason.MODEL_UNAVAILABLE}
)
MAX_MESSAGE = 2000


class ProcessingError(Exception):
    """A task cannot be completed; ``reason`` and ``retriable`` go into ProcessingFailed."""

    def __init__(self, reason: FailureReason, message: str, *, retriable: bool | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retriable = reason in _TRANSIENT if retriable is None else retriable


@dataclass(frozen=True)
class Failure:
    reason: FailureReason
    message: str
    retriable: bool


def classify(exc: BaseException) -> Failure:
    """The contract's view of any exception raised while processing one task.

    Our own errors carry their reason; an error of an adapter that says it is ``retriable``
    is a dependency that was unavailable; anything else is a bug, reported as ``internal``
    and not retried (it would fail the same way again).
    """
    if isinstance(exc, ProcessingError):
        return Failure(exc.reason, _clip(exc.message), exc.retriable)
    if getattr(exc, "retriable", False):
        return Failure(FailureReason.STORAGE_UNAVAILABLE, _clip(_describe(exc)), True)
    return Failure(FailureReason.INTERNAL, _clip(f"internal error: {_describe(exc)}"), False)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _clip(message: str) -> str:
    message = message.strip() or "no message"
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
