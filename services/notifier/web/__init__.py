"""The HTTP side: the websocket endpoint, health, readiness and metrics."""
