"""``python -m services.webhooks``: the same as ``clearcut webhooks serve``."""

from services.webhooks.main import serve

serve()
