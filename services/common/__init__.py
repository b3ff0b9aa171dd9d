"""Runtime shared by every service: envelope, Kafka helpers, telemetry, settings."""
