"""What a webhook carries and what an attempt's result leads to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import ProcessingCompleted, ProcessingFailed
from services.webhooks.domain.attempts import AttemptResult, DeliveryStatus, decide
from services.webhooks.domain.backoff import RetryPolicy
from services.webhooks.domain.payload import (
    body,
    callback_delivery_id,
    endpoint_delivery_id,
    outcome_of,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"
API = "https://api.example.com"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def test_a_completion_carries_links_and_results_but_nothing_internal() -> None:
    data = example("ProcessingCompleted") | {"reused_from_task_id": "other-task"}
    event = ProcessingCompleted.model_validate(data)
    outcome = outcome_of(event, API)
    sent = body("d-1", outcome.payload).decode()
    document = json.loads(sent)
    assert document["id"] == "d-1" and document["type"] == "image.completed"
    assert document["status"] == "completed" and document["error"] is None
    assert document["links"]["cutout"] == f"{API}/v1/images/{event.image_id}/result?kind=cutout"
    assert {r["kind"] for r in document["results"]} == {"cutout", "mask"}
    for internal in (event.worker_id, "other-task", "reused", "bucket", "worker", "timings"):
        assert internal not in sent
    for result in event.results:
        assert result.bucket not in sent and result.key not in sent
    assert outcome.key == f"{event.task_id}/{event.attempt}/completed"


def test_a_failure_carries_a_fixed_text_not_the_workers_message() -> None:
    data = example("ProcessingFailed") | {
        "reason": "image_missing",
        "message": "the original s3://clearcut-originals/acme/x does not exist",
    }
    event = ProcessingFailed.model_validate(data)
    document = json.loads(body("d-2", outcome_of(event, API).payload))
    assert document["error"] == {
        "reason": "image_missing",
        "message": "the original image is no longer stored",
        "retriable": event.retriable,
    }
    assert "s3://" not in json.dumps(document) and document["results"] == []
    assert set(document["links"]) == {"status"}


def test_delivery_ids_are_stable_and_distinct_per_target() -> None:
    a = endpoint_delivery_id("t/1/completed", "we_1")
    assert a == endpoint_delivery_id("t/1/completed", "we_1")
    assert a != endpoint_delivery_id("t/1/completed", "we_2")
    assert a != callback_delivery_id("t/1/completed") != callback_delivery_id("t/2/completed")


T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(initial_seconds=10, deadline_seconds=3600)


def attempt(**kw: Any) -> AttemptResult:
    return AttemptResult(started_at=T0 + timedelta(seconds=5), duration_ms=3.0, **kw)


def test_decisions() -> None:
    ok = decide(
        attempt(status_code=204), created_at=T0, failed_attempts=1, policy=POLICY, spread=0.5
    )
    assert ok.status is DeliveryStatus.DELIVERED and ok.next_attempt_at is None
    for failing in (attempt(status_code=500), attempt(status_code=302), attempt(error="reset")):
        d = decide(failing, created_at=T0, failed_attempts=1, policy=POLICY, spread=0.5)
        assert d.status is DeliveryStatus.PENDING
        assert d.next_attempt_at == T0 + timedelta(seconds=15)
    gone = decide(
        attempt(status_code=503), created_at=T0, failed_attempts=20, policy=POLICY, spread=0.5
    )
    assert gone.status is DeliveryStatus.FAILED
    refused = decide(
        attempt(error="loopback", refused=True),
        created_at=T0,
        failed_attempts=1,
        policy=POLICY,
        spread=0.5,
    )
    assert refused.status is DeliveryStatus.REFUSED
    assert attempt(status_code=302).description == "HTTP 302: redirects are not followed"
    assert attempt(status_code=200).description is None
