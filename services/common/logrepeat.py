"""Repeated warnings and errors written once per window, with a count of those held back.

A dependency that is down makes client libraries log the same line many times a second (an
unreachable broker: hundreds of thousands of lines in half a minute). The first occurrence is
written at once; the same message again within the window is counted, not written; the next
one after the window is written with how many were held back in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RepeatLimiter(logging.Filter):
    def __init__(
        self,
        window_seconds: float = 60.0,
        *,
        level: int = logging.WARNING,
        max_messages: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._window = window_seconds
        self._level = level
        self._max = max_messages
        self._clock = clock
        self._lock = threading.Lock()
        # (logger, level, message) -> [start of its window, occurrences held back in it]
        self._seen: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self._level or self._window <= 0:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the handler's to report
            return True
        key = (record.name, record.levelno, message)
        now = self._clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self._window:
                entry[1] += 1
                return False
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
        if entry is not None and entry[1]:
            held = int(entry[1])
            record.msg = f"{message} (and {held} more like it in the last {now - entry[0]:.0f} s)"
            record.args = None
            record.repeated = held
        return True
