"""The notifier's Prometheus metrics, registered on the process's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


MESSAGE_KINDS = ("event", "snapshot", "control")


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Gauge(
            "notifier_connections", "Open, authenticated websocket connections.", registry=registry
        )
        self.subscriptions = Gauge(
            "notifier_subscriptions",
            "Active subscriptions: image ids plus `all` subscriptions.",
            registry=registry,
        )
        self.messages_sent = Counter(
            "notifier_messages_sent",
            "Messages handed to client sockets, by kind (event, snapshot, control).",
            ["kind"],
            registry=registry,
        )
        self.dropped_clients = Counter(
            "notifier_dropped_clients",
            "Clients disconnected (1013) because their outgoing queue was full.",
            registry=registry,
        )
        self.dropped_messages = Counter(
            "notifier_dropped_messages",
            "Queued messages discarded when a slow client was disconnected.",
            registry=registry,
        )
        self.disconnects = Counter(
            "notifier_disconnects",
            "Closed connections by websocket close code.",
            ["code"],
            registry=registry,
        )
        self.events = Counter(
            "notifier_events",
            "Consumed events by type and verdict (accepted, duplicate, stale).",
            ["type", "verdict"],
            registry=registry,
        )
        self.invalid_records = Counter(
            "notifier_invalid_records",
            "Consumed records that are not valid events, by reason; logged and skipped.",
            ["reason"],
            registry=registry,
        )
        self.client_errors = Counter(
            "notifier_client_errors",
            "Error messages sent to clients, by code.",
            ["code"],
            registry=registry,
        )
        self.held = Gauge(
            "notifier_held_events",
            "Consumed events held until the projector has applied them (grows while the "
            "projector is down or behind).",
            registry=registry,
        )
        self.held_dropped = Counter(
            "notifier_held_dropped",
            "Held events dropped, never pushed, because more than max_held_events waited.",
            registry=registry,
        )
        self.event_to_send = Histogram(
            "notifier_event_to_send_seconds",
            "From an event's occurred_at to its message being written to a client socket.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.sent = {kind: self.messages_sent.labels(kind) for kind in MESSAGE_KINDS}
