"""The webhooks service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "webhooks_events",
            "Events consumed, by type and whether they created deliveries.",
            ["type", "outcome"],
            registry=registry,
        )
        self.attempts = Counter(
            "webhooks_attempts",
            "Delivery attempts by outcome: delivered, failed (to be retried or given up), refused.",
            ["outcome"],
            registry=registry,
        )
        self.finished = Counter(
            "webhooks_deliveries_finished",
            "Deliveries that reached a final status: delivered, failed, refused, cancelled.",
            ["status"],
            registry=registry,
        )
        self.attempt_seconds = Histogram(
            "webhooks_attempt_seconds",
            "Time of one POST, connecting included.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.pending = Gauge(
            "webhooks_pending_deliveries",
            "Deliveries waiting for their next attempt (all replicas).",
            registry=registry,
        )
        self.in_flight = Gauge(
            "webhooks_in_flight", "POSTs under way in this process.", registry=registry
        )
