"""An event in CloudEvents 1.0 *structured* JSON form, as clients receive it. Pure.

On Kafka the attributes travel as ``ce_`` headers (binary mode); a websocket client gets
one JSON object holding the attributes and the event's data under ``data``.
"""

from __future__ import annotations

from typing import Any

from services.common.envelope import CONTENT_TYPE, EventEnvelope


def structured(envelope: EventEnvelope) -> dict[str, Any]:
    data = envelope.event.model_dump(mode="json")
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
    for name, value in envelope.extensions.items():
        document.setdefault(name, value)
    document["data"] = data
    return document
