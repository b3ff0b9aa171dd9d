from __future__ import annotations

import json

from services.notifier.domain.links import Links
from services.notifier.domain.notice import notice_for
from tests.unit.notifier import factory as ev


def test_an_event_message_holds_the_structured_cloudevent_and_links() -> None:
    event = ev.completed("img-9", "alice", at=7)
    message = json.loads(notice_for(ev.envelope(event), event, Links("http://up:8080/")).text)
    assert message["type"] == "event"
    assert message["image_id"] == "img-9"
    cloud_event = message["event"]
    assert cloud_event["specversion"] == "1.0"
    assert cloud_event["type"] == "io.clearcut.image.processing.completed.v1"
    assert cloud_event["id"] == event.event_id
    assert cloud_event["subject"] == "img-9"
    assert cloud_event["source"] == ev.SOURCE
    assert cloud_event["time"] == "2030-01-01T12:00:07Z"
    assert cloud_event["datacontenttype"] == "application/json"
    expected = event.model_dump(mode="json")
    for private in ("worker_id", "reused_from_task_id"):
        del expected[private]
    for result in expected["results"]:
        del result["bucket"], result["key"]
    assert cloud_event["data"] == expected
    text = json.dumps(message)
    assert "processor-" not in text and "clearcut-results" not in text
    assert message["links"] == {
        "status": "http://up:8080/v1/images/img-9",
        "cutout": "http://up:8080/v1/images/img-9/result?kind=cutout",
        "mask": "http://up:8080/v1/images/img-9/result?kind=mask",
    }


def test_started_and_failed_messages_link_the_status_only() -> None:
    for event in (ev.started("img"), ev.failed("img")):
        message = json.loads(notice_for(ev.envelope(event), event, Links("http://up")).text)
        assert message["links"] == {"status": "http://up/v1/images/img"}
