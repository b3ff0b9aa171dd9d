"""The publisher's own error: what the broker's failures mean for whoever publishes."""

from __future__ import annotations

from pathlib import Path

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from schemas import ImageDeleted
from services.common.kafka.producer import PublishFailed

EXAMPLES = Path(__file__).parents[2] / "schemas" / "examples"
EVENT = ImageDeleted.model_validate_json((EXAMPLES / "ImageDeleted.json").read_text())


def test_an_outage_or_no_answer_is_retriable() -> None:
    for cause in (KafkaConnectionError(), KafkaTimeoutError(), TimeoutError()):
        failed = PublishFailed(EVENT, cause)
        assert failed.retriable, cause
        assert f"ImageDeleted for {EVENT.image_id}" in str(failed)


def test_a_record_the_broker_refuses_is_not() -> None:
    assert not PublishFailed(EVENT, MessageSizeTooLargeError()).retriable
