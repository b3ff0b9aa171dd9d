"""`clearcut logs` shows a service's JSON log lines as text a person reads."""

from __future__ import annotations

import json

from services.cli.stack import readable_log_line


def test_a_json_line_reads_as_time_level_logger_message_and_ids() -> None:
    line = json.dumps(
        {
            "time": "2026-12-02 01:42:49,830",
            "level": "WARNING",
            "logger": "services.processor.flow",
            "message": "object store unavailable; waiting",
            "service": "processor",
            "image_id": "abc",
            "trace_id": None,
            "span_id": "15da1093",
        }
    )
    assert readable_log_line(line + "\n") == (
        "2026-12-02 01:42:49,830 WARNING services.processor.flow: "
        "object store unavailable; waiting  [image_id=abc]"
    )


def test_a_traceback_follows_on_its_own_lines() -> None:
    line = json.dumps(
        {
            "time": "t",
            "level": "ERROR",
            "logger": "x",
            "message": "boom",
            "exc_info": "Traceback (most recent call last):\n  ValueError",
        }
    )
    assert readable_log_line(line).splitlines() == [
        "t ERROR   x: boom",
        "Traceback (most recent call last):",
        "  ValueError",
    ]


def test_a_line_that_is_not_json_is_left_alone() -> None:
    assert readable_log_line("Traceback (most recent call last):\n") == (
        "Traceback (most recent call last):"
    )
    assert readable_log_line("[1, 2]") == "[1, 2]"
