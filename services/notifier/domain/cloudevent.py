"""An event in CloudEvents 1.0 *structured* JSON form, as clients receive it. Pure.

On Kafka the attributes travel as ``ce_`` headers (binary mode); a websocket client gets
one JSON object holding the attributes and the event's data under ``data``.

Clients get only what their owner may see: the data leaves out the processor's inner
workings (``worker_id``: host and pid; ``reused_from_task_id``: the task whose results were
copied) and where results are stored (each result's ``bucket`` and ``key``; clients
download through the links instead); extension attributes of producers are not passed on.
"""

from __future__ import annotations

from typing import Any

from services.common.envelope import CONTENT_TYPE, EventEnvelope

PRIVATE_FIELDS = ("worker_id", "reused_from_task_id")
PRIVATE_RESULT_FIELDS = ("bucket", "key")


def client_data(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data without the fields its owner has no business seeing."""
    shown = {k: v for k, v in data.items() if k not in PRIVATE_FIELDS}
    if isinstance(shown.get("results"), list):
        shown["results"] = [
            {k: v for k, v in result.items() if k not in PRIVATE_RESULT_FIELDS}
            for result in shown["results"]
        ]
    return shown


def structured(envelope: EventEnvelope) -> dict[str, Any]:
    data = client_data(envelope.event.model_dump(mode="json"))
    document: dict[str, Any] = {
        "specversion": envelope.specversion,
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        # The data's own rendering of the same instant: RFC 3339 in UTC.
        "time": data["occurred_at"],
        "datacontenttype": envelope.datacontenttype or CONTENT_TYPE,
    }
    if envelope.dataschema:
        document["dataschema"] = envelope.dataschema
    document["data"] = data
    return document
