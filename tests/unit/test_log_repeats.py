"""A flood of one warning becomes a line per window with a count; log files rotate by size."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from services.common.logrepeat import RepeatLimiter
from services.common.settings import TelemetrySettings
from services.common.telemetry import configure_logging


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _record(message: str, level: int = logging.ERROR, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_the_same_error_is_written_once_per_window_then_with_the_count_held_back() -> None:
    clock = Clock()
    limiter = RepeatLimiter(60, clock=clock)
    unreachable = "Unable connect to node with id 1: [Errno 111] Connect call failed"
    written = []
    for i in range(41_300):
        clock.now = i * 37 / 41_300  # a 37-second outage
        record = _record(unreachable)
        if limiter.filter(record):
            written.append(record.getMessage())
    assert written == [unreachable]
    clock.now = 61
    record = _record(unreachable)
    assert limiter.filter(record)
    assert record.getMessage() == f"{unreachable} (and 41299 more like it in the last 61 s)"
    assert record.repeated == 41_299  # type: ignore[attr-defined]


def test_other_messages_and_info_lines_pass_untouched() -> None:
    limiter = RepeatLimiter(60, clock=Clock())
    assert limiter.filter(_record("image a failed"))
    assert limiter.filter(_record("image b failed"))
    assert limiter.filter(_record("image a failed", name="other"))
    assert all(limiter.filter(_record("stored", logging.INFO)) for _ in range(5))
    assert not limiter.filter(_record("image a failed"))


def test_a_window_of_zero_writes_every_line() -> None:
    limiter = RepeatLimiter(0, clock=Clock())
    assert all(limiter.filter(_record("down")) for _ in range(3))


def test_the_log_file_rotates_by_size_and_keeps_its_backups(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "projector.log"
    configure_logging(
        "projector",
        TelemetrySettings(log_file=log, log_max_bytes=4096, log_backups=2, log_format="json"),
    )
    try:
        logger = logging.getLogger("clearcut.test.rotation")
        for i in range(400):
            logger.info("line %d of a long run", i)
        files = sorted(p.name for p in log.parent.iterdir())
        assert files == ["projector.log", "projector.log.1", "projector.log.2"]
        assert all(p.stat().st_size <= 4096 for p in log.parent.iterdir())
        last = json.loads(log.read_text().strip().splitlines()[-1])
        assert last["message"] == "line 399 of a long run"
        assert last["service"] == "projector"
    finally:
        configure_logging("tests", TelemetrySettings(log_format="text"))
