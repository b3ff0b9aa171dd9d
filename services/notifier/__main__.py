"""``python -m services.notifier``: run the websocket server."""

from services.notifier.main import serve

serve()
