"""The CPU pool's threads run below the model's priority, the rest of the process does not."""

from __future__ import annotations

import os

from services.processor.composition import cpu_pool
from services.processor.settings import ProcessorSettings


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_the_cpu_pool_threads_are_nicer_than_the_caller() -> None:
    before = _niceness()
    pool = cpu_pool(ProcessorSettings(cpu_threads=2, cpu_nice=5))
    try:
        seen = {pool.submit(_niceness).result() for _ in range(4)}
    finally:
        pool.shutdown()
    assert seen == {min(before + 5, 19)}
    assert _niceness() == before, "only the pool's own threads change"


def test_a_nice_of_zero_leaves_the_pool_at_the_callers_priority() -> None:
    pool = cpu_pool(ProcessorSettings(cpu_threads=1, cpu_nice=0))
    try:
        assert pool.submit(_niceness).result() == _niceness()
    finally:
        pool.shutdown()
