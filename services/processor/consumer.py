"""Consuming ``image.uploaded``: hand records to the flow, commit what is durable.

The worker consumes with aiokafka directly (manual commits), not through a faust agent:
faust commits the end of the first run of consecutive acknowledged offsets, so with tasks
finishing out of order it would commit past unfinished work (its issue #606). Here each
owned partition has a ``PartitionProgress``; a record's offset is finished when its task
completes (its outcome is durable), and the committed offset is the lowest unfinished one.

- **Backpressure.** ``getmany`` asks for at most the flow's free room; when there is none
  the partitions are paused (no prefetching into memory) and resumed when room frees up.
  The loop keeps polling while paused, so the group never sees the worker as stuck.
- **Attempts.** Every commit carries the metadata described in ``domain.progress``; records
  are handed to the flow only after a commit that covers them was sent, and the Started
  event of a record waits for that commit, so a worker that dies after "started" always
  leaves the hand-over mark for the next owner.
- **Rebalance.** When partitions are revoked, their tasks get ``rebalance_grace_s`` to
  finish, the rest are cancelled (the next owner redoes them), and the final offsets are
  committed before the partitions go.
- **Shutdown.** No new records; the tasks in flight get ``shutdown_grace_s``; then the final
  commit and the group is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from services.processor.adapters.events import RawMessage
from services.processor.domain.progress import Handover, PartitionProgress
from services.processor.flow import Flow
from services.processor.metrics import ProcessorMetrics

logger = logging.getLogger(__name__)


def raw_message(record: Any) -> RawMessage:
    return RawMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=int(record.timestamp),
        key=record.key,
        value=record.value,
        headers=list(record.headers or ()),
    )


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("hand-over mark not committed: %s", future.exception())


class UploadsConsumer(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        flow: Flow,
        metrics: ProcessorMetrics,
        *,
        rebalance_grace_s: float,
    ) -> None:
        self._consumer = consumer
        self._flow = flow
        self._metrics = metrics
        self._rebalance_grace_s = rebalance_grace_s
        self.progress: dict[TopicPartition, PartitionProgress] = {}
        self._tasks: dict[TopicPartition, dict[int, asyncio.Task[None]]] = {}
        self._commit_wanted = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._paused = False

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        committer = asyncio.create_task(self._committer(stop))
        try:
            while not stop.is_set():
                await self._poll_once(stop)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer

    async def _poll_once(self, stop: asyncio.Event) -> None:
        room = self._flow.room
        if room == 0:
            self._pause()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flow.wait_for_room(), 1.0)
            # Polling while paused returns nothing but tells the group this worker lives.
            await self._consumer.getmany(timeout_ms=0)
            return
        self._resume()
        batches = await self._consumer.getmany(timeout_ms=500, max_records=room)
        if not batches or stop.is_set():
            return
        taken: list[tuple[TopicPartition, Any, int]] = []
        for tp, records in batches.items():
            progress = self.progress.setdefault(tp, PartitionProgress())
            for record in records:
                taken.append((tp, record, progress.take(record.offset)))
        # The hand-over mark (highest offset taken) is on its way before any work starts.
        mark = asyncio.ensure_future(self._commit())
        mark.add_done_callback(_log_failure)
        for tp, record, attempt in taken:
            task = self._flow.submit(raw_message(record), attempt, after=mark)
            self._tasks.setdefault(tp, {})[record.offset] = task
            task.add_done_callback(partial(self._done, tp, record.offset))

    def _done(self, tp: TopicPartition, offset: int, task: asyncio.Task[None]) -> None:
        self._tasks.get(tp, {}).pop(offset, None)
        progress = self.progress.get(tp)
        if progress is None or task.cancelled():
            return  # revoked, or abandoned: the next owner redoes it
        if task.exception() is not None:
            logger.error("task at %s@%s crashed", tp, offset, exc_info=task.exception())
            return
        progress.finish(offset)
        self._commit_wanted.set()

    def _pause(self) -> None:
        if not self._paused:
            self._consumer.pause(*self._consumer.assignment())
            self._paused = True
            self._metrics.paused.set(1)

    def _resume(self) -> None:
        if self._paused:
            self._consumer.resume(*self._consumer.assignment())
            self._paused = False
            self._metrics.paused.set(0)

    # -- commits --------------------------------------------------------------------------

    async def _committer(self, stop: asyncio.Event) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            try:
                await self._commit()
            except KafkaError as exc:
                logger.warning("offset commit failed, retrying: %s", exc)
                await asyncio.sleep(1.0)
                self._commit_wanted.set()

    async def _commit(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        async with self._commit_lock:
            chosen = list(self.progress) if partitions is None else list(partitions)
            offsets = {}
            for tp in chosen:
                progress = self.progress.get(tp)
                pending = progress.pending_commit() if progress is not None else None
                if pending is not None:
                    offsets[tp] = pending
            if not offsets:
                return
            await self._consumer.commit(offsets)
            for tp, commit in offsets.items():
                self.progress[tp].committed(commit)

    def lag(self) -> dict[TopicPartition, int]:
        """End offset minus committed offset, per owned partition."""
        lags = {}
        for tp, progress in self.progress.items():
            end = self._consumer.highwater(tp)
            if end is not None:
                lags[tp] = max(0, end - (progress.committable() or 0))
        return lags

    # -- rebalance and shutdown -----------------------------------------------------------

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = [tp for tp in revoked if tp in self.progress]
        if revoked:
            await self.settle(revoked, self._rebalance_grace_s)
            for tp in revoked:
                self.progress.pop(tp, None)
                self._tasks.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        assigned = list(assigned)
        if not assigned:
            return
        # The public ``committed()`` drops the metadata, which carries the hand-over mark.
        committed = await self._consumer._coordinator.fetch_committed_offsets(assigned)
        for tp in assigned:
            meta = committed.get(tp)
            handover = Handover.parse(meta.metadata if meta is not None else None)
            self.progress[tp] = PartitionProgress(handover=handover)
            if handover.taken >= 0:
                logger.info(
                    "assigned %s: offsets up to %d were handed out before (attempt %d)",
                    tp,
                    handover.taken,
                    handover.attempt,
                )
        if self._paused:
            self._consumer.pause(*assigned)

    async def settle(self, partitions: Iterable[TopicPartition], grace_s: float) -> None:
        """Give the tasks of ``partitions`` ``grace_s`` to finish, cancel the rest, commit."""
        partitions = list(partitions)
        tasks = [t for tp in partitions for t in self._tasks.get(tp, {}).values()]
        if tasks:
            logger.info("waiting up to %.0f s for %d tasks in flight", grace_s, len(tasks))
            _, unfinished = await asyncio.wait(tasks, timeout=grace_s)
            if unfinished:
                logger.warning(
                    "abandoning %d unfinished tasks after %.0f s; they will be redone",
                    len(unfinished),
                    grace_s,
                )
                for task in unfinished:
                    task.cancel()
                await asyncio.gather(*unfinished, return_exceptions=True)
        try:
            await self._commit(partitions)
        except KafkaError as exc:
            logger.warning("final commit failed (the next owner redoes the work): %s", exc)

    async def drain(self, grace_s: float) -> None:
        await self.settle(list(self.progress), grace_s)
