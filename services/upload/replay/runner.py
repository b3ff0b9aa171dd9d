"""A replay run: scan the upload topic, consult the read model for `missing`, plan, and
publish the requests with the shared publisher (acks=all, awaited).

Every request's ids derive from the replay id, so a run that was interrupted (or failed
half-way) is finished by running it again with the same replay id: what was sent is found
on the topic and skipped, and a request sent twice all the same is a duplicate that every
consumer ignores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from schemas import ImageUploaded, utc_now
from services.common.kafka.producer import EventPublisher, PublishFailed, create_producer
from services.common.settings import CommonSettings
from services.upload.adapters.postgres import connect
from services.upload.replay.model_state import deleted_images, model_state
from services.upload.replay.scan import ScanResult, scan_uploads
from services.upload.replay.selection import (
    Criteria,
    ModelState,
    ReplayPlan,
    Request,
    plan_replay,
)

logger = logging.getLogger(__name__)

SOURCE = "/clearcut/cli/replay"
SEND_WINDOW = 100  # publishes in flight at once


class ReplayError(RuntimeError):
    pass


class ReplayProgress(Protocol):
    """What a front end shows while a replay runs."""

    def scanning(self, total: int) -> None: ...

    def scanned(self, count: int) -> None: ...

    def sending(self, total: int) -> None: ...

    def sent(self, count: int) -> None: ...


class _Silent:
    def scanning(self, total: int) -> None:
        pass

    def scanned(self, count: int) -> None:
        pass

    def sending(self, total: int) -> None:
        pass

    def sent(self, count: int) -> None:
        pass


def new_replay_id(now: datetime, suffix: str | None = None) -> str:
    """A replay id that sorts by time, e.g. ``replay-20260102t030405z-1a2b3c``."""
    return f"replay-{now:%Y%m%dt%H%M%Sz}-{suffix or secrets.token_hex(3)}"


@dataclass
class ReplayRun:
    """One run; its fields fill in as it goes, so an interrupted run can still report."""

    common: CommonSettings
    criteria: Criteria
    request: Request
    dry_run: bool = False
    progress: ReplayProgress = field(default_factory=_Silent)
    scan: ScanResult | None = None
    plan: ReplayPlan | None = None
    sent: int = 0

    async def execute(self) -> ReplayPlan:
        self.request.check()
        self.criteria.check(self.request.model)
        topic = self.common.topics.uploaded
        self.scan = await scan_uploads(
            self.common.kafka,
            topic,
            self.criteria,
            self.request.replay_id,
            on_total=self.progress.scanning,
            on_read=self.progress.scanned,
        )
        models = await self._model_state(self.scan.originals)
        self.plan = plan_replay(
            self.scan.originals,
            self.criteria,
            self.request,
            already_sent=self.scan.already_sent,
            models=models,
            now=utc_now(),
        )
        logger.info(
            "replay %s: %d selected, %d to send",
            self.request.replay_id,
            self.plan.selected,
            len(self.plan.to_send),
        )
        if not self.dry_run and self.plan.to_send:
            await self._send(self.plan.to_send)
        return self.plan

    async def _model_state(self, originals: list[ImageUploaded]) -> ModelState:
        if not originals:
            return ModelState()
        model = self.request.model
        ids = [e.image_id for e in originals]
        conn = await connect(self.common.postgres)
        try:
            deleted = await deleted_images(conn, ids)
            if not self.criteria.missing or model is None:
                return ModelState(deleted=deleted)
            state = await model_state(conn, model, ids)
            return dataclasses.replace(state, deleted=deleted)
        finally:
            await conn.close()

    async def _send(self, events: list[ImageUploaded]) -> None:
        producer = create_producer(self.common.kafka, "clearcut-replay")
        await producer.start()
        try:
            publisher = EventPublisher(producer, self.common.topics, SOURCE)
            self.progress.sending(len(events))
            for start in range(0, len(events), SEND_WINDOW):
                window = events[start : start + SEND_WINDOW]
                outcomes = await asyncio.gather(
                    *(publisher.publish(event) for event in window), return_exceptions=True
                )
                failures = [o for o in outcomes if isinstance(o, BaseException)]
                done = len(window) - len(failures)
                self.sent += done
                self.progress.sent(done)
                if failures:
                    first = failures[0]
                    if isinstance(first, PublishFailed):
                        raise ReplayError(
                            f"{len(failures)} of {len(window)} requests could not be "
                            f"published: {type(first).__name__}: {first}"
                        ) from first
                    raise first
        finally:
            await producer.stop()
