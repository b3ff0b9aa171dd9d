"""Sending due deliveries: claim a few at a time from PostgreSQL, sign and POST each, record
the attempt and what follows from it (`domain.attempts`). Woken at once when the intake
created deliveries, otherwise every `poll_interval_seconds` for due retries. What is pending
lives only in PostgreSQL, so a restart (or another replica) picks it up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from opentelemetry import trace

from services.webhooks.domain.attempts import (
    AttemptResult,
    DeliveryStatus,
    decide,
)
from services.webhooks.domain.backoff import RetryPolicy
from services.webhooks.domain.payload import body
from services.webhooks.domain.signing import ATTEMPT_HEADER, signed_headers
from services.webhooks.domain.targets import Refused, TargetPolicy, check_url
from services.webhooks.metrics import WebhookMetrics
from services.webhooks.ports import Claimed, DeliveryStore, Sender

logger = logging.getLogger(__name__)
PENDING_REFRESH_SECONDS = 10.0
RETENTION_INTERVAL_SECONDS = 3600.0
READ_MODEL_RECHECK_SECONDS = 0.3


class Dispatcher:
    def __init__(
        self,
        store: DeliveryStore,
        sender: Sender,
        *,
        targets: TargetPolicy,
        retries: RetryPolicy,
        metrics: WebhookMetrics,
        concurrency: int,
        lease_seconds: float,
        poll_interval_seconds: float,
        read_model_wait_seconds: float = 0.0,
        tracer: trace.Tracer | None = None,
        retention_seconds: float | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._targets = targets
        self._retries = retries
        self._metrics = metrics
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._poll = poll_interval_seconds
        self._read_model_wait = read_model_wait_seconds
        self._tracer = tracer or trace.get_tracer(__name__)
        self._retention = retention_seconds
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._random = random.Random()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        last_count = last_retention = 0.0
        try:
            while not stop.is_set():
                free = self._concurrency - len(self._running)
                claimed: list[Claimed] = []
                if free > 0:
                    try:
                        claimed = await self._store.claim_due(free, self._lease)
                    except Exception:
                        logger.warning("cannot claim due deliveries", exc_info=True)
                for delivery in claimed:
                    task = asyncio.create_task(self._deliver(delivery), name="webhook-send")
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                if time.monotonic() - last_count >= PENDING_REFRESH_SECONDS:
                    last_count = time.monotonic()
                    await self._refresh_pending()
                if time.monotonic() - last_retention >= RETENTION_INTERVAL_SECONDS:
                    last_retention = time.monotonic()
                    await self._forget_old()
                if claimed and len(claimed) == free:
                    await asyncio.sleep(0)  # more may be due: claim again when slots free
                    if len(self._running) >= self._concurrency:
                        await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self._wake), self._poll)
        finally:
            if self._running:
                await asyncio.wait(self._running)

    async def _refresh_pending(self) -> None:
        counter = getattr(self._store, "pending", None)
        if counter is None:
            return
        with contextlib.suppress(Exception):
            self._metrics.pending.set(await counter())

    async def _forget_old(self) -> None:
        forget = getattr(self._store, "forget_older_than", None)
        if self._retention is None or forget is None:
            return
        try:
            removed = await forget(self._retention)
        except Exception:
            logger.warning("cannot trim the delivery log", exc_info=True)
            return
        if removed:
            logger.info("removed %d outcomes older than the log's retention", removed)

    async def _deliver(self, delivery: Claimed) -> None:
        try:
            await self._attempt(delivery)
        except Exception:
            # The lease runs out and the delivery is due again: at least once.
            logger.warning(
                "delivery %s not recorded; retried after its lease", delivery.id, exc_info=True
            )

    async def _attempt(self, delivery: Claimed) -> None:
        if delivery.secret is None:
            reason = (
                "the endpoint was removed"
                if delivery.target == "endpoint"
                else "no callback signing secret for this owner: "
                "create one with `clearcut webhooks secret OWNER`"
            )
            await self._store.cancel(delivery, reason)
            self._metrics.finished.labels(DeliveryStatus.CANCELLED.value).inc()
            logger.info("delivery %s cancelled: %s", delivery.id, reason)
            return
        if delivery.endpoint_removed:
            await self._store.cancel(delivery, "the endpoint was removed")
            self._metrics.finished.labels(DeliveryStatus.CANCELLED.value).inc()
            return
        if self._waits_for_read_model(delivery):
            await self._store.postpone(delivery, READ_MODEL_RECHECK_SECONDS)
            return
        payload = body(delivery.id, delivery.payload)
        try:
            check_url(delivery.url, self._targets)
        except Refused as refused:
            result = AttemptResult(
                started_at=datetime.now(UTC), duration_ms=0.0, error=str(refused), refused=True
            )
        else:
            headers = signed_headers(delivery.secret, delivery.id, int(time.time()), payload)
            headers[ATTEMPT_HEADER] = str(delivery.attempts + 1)
            self._metrics.in_flight.inc()
            with self._tracer.start_as_current_span(
                "webhook POST", kind=trace.SpanKind.CLIENT
            ) as span:
                span.set_attribute("webhook.delivery_id", delivery.id)
                span.set_attribute("webhook.attempt", delivery.attempts + 1)
                span.set_attribute("webhook.target", delivery.target)
                span.set_attribute("server.address", urlsplit(delivery.url).hostname or "")
                try:
                    result = await self._sender.send(delivery.url, headers, payload)
                finally:
                    self._metrics.in_flight.dec()
                if result.status_code is not None:
                    span.set_attribute("http.response.status_code", result.status_code)
                if result.outcome.value != "delivered":
                    span.set_status(trace.StatusCode.ERROR, result.description or "")
            self._metrics.attempt_seconds.observe(result.duration_ms / 1000)
        decision = decide(
            result,
            created_at=delivery.created_at,
            failed_attempts=delivery.attempts + 1,
            policy=self._retries,
            spread=self._random.random(),
        )
        await self._store.record_attempt(delivery, result, decision)
        self._metrics.attempts.labels(result.outcome.value).inc()
        if decision.status is not DeliveryStatus.PENDING:
            self._metrics.finished.labels(decision.status.value).inc()
        log = logger.info if decision.status is DeliveryStatus.DELIVERED else logger.warning
        log(
            "delivery %s attempt %d to %s: %s -> %s%s",
            delivery.id,
            delivery.attempts + 1,
            urlsplit(delivery.url).hostname,
            result.status_code if result.status_code is not None else result.description,
            decision.status.value,
            f", next at {decision.next_attempt_at.isoformat()}" if decision.next_attempt_at else "",
            extra={"owner": delivery.owner},
        )

    def _waits_for_read_model(self, delivery: Claimed) -> bool:
        if delivery.projected or delivery.attempts > 0:
            return False
        age = (datetime.now(UTC) - delivery.created_at).total_seconds()
        return age < self._read_model_wait


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
