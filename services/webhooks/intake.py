"""Turning consumed events into deliveries: an ImageUploaded that names a `callback_url`
remembers it for its task; a ProcessingCompleted or ProcessingFailed becomes an outcome with
a delivery to each of its owner's endpoints and to the task's callback. Everything else is
ignored. Idempotent, so the consumer may deliver an event twice."""

from __future__ import annotations

import logging
from collections.abc import Callable

from schemas import ImageUploaded, ProcessingCompleted, ProcessingFailed
from services.common.envelope import EventEnvelope
from services.common.kafka.consumer import Handler
from services.webhooks.domain.payload import outcome_of
from services.webhooks.metrics import WebhookMetrics
from services.webhooks.ports import DeliveryStore

logger = logging.getLogger(__name__)


def intake_handler(
    store: DeliveryStore,
    public_url: str,
    metrics: WebhookMetrics,
    on_new_deliveries: Callable[[], None],
) -> Handler:
    async def handle(envelope: EventEnvelope) -> None:
        event = envelope.event
        name = type(event).__name__
        created = 0
        if isinstance(event, ImageUploaded):
            if event.callback_url is None or event.reprocessing is not None:
                metrics.events.labels(name, "ignored").inc()
                return
            created = await store.record_callback(
                event.task_id, event.image_id, event.owner, event.callback_url
            )
        elif isinstance(event, ProcessingCompleted | ProcessingFailed):
            created = await store.record_outcome(outcome_of(event, public_url))
        else:
            metrics.events.labels(name, "ignored").inc()
            return
        metrics.events.labels(name, "deliveries" if created else "none").inc()
        if created:
            logger.info(
                "%d new webhook deliveries for image %s",
                created,
                event.image_id,
                extra={"image_id": event.image_id, "owner": event.owner},
            )
            on_new_deliveries()

    return handle
