"""The purger's loop: a wake-up that comes while a round runs is not lost."""

from __future__ import annotations

import asyncio
from typing import Any

from services.upload.projector.purger import Purger, purge_forever


class CountingPurger(Purger):
    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.rounds = 0

    async def purge_due(self) -> int:
        self.rounds += 1
        if self.rounds == 1:
            self.wake.set()  # a deletion applied while this round runs
        await asyncio.sleep(0)
        return 0


async def test_a_wake_up_during_a_round_starts_another_at_once() -> None:
    purger = CountingPurger()
    stop = asyncio.Event()
    loop: Any = asyncio.create_task(purge_forever(purger, 60.0, stop))
    for _ in range(100):
        if purger.rounds >= 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert purger.rounds == 2, "the second round ran without waiting for the interval"
