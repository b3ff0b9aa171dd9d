"""An event accepted for pushing, with its message already rendered. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import ProcessingCompleted
from services.common.envelope import EventEnvelope
from services.notifier.domain import server_messages
from services.notifier.domain.cloudevent import structured
from services.notifier.domain.links import Links
from services.notifier.domain.progress import Progress, PushedEvent, progress_of


@dataclass(frozen=True, slots=True)
class Notice:
    event: PushedEvent
    progress: Progress
    text: str  # the `event` message sent to clients

    @property
    def event_id(self) -> str:
        return self.event.event_id

    @property
    def image_id(self) -> str:
        return self.event.image_id

    @property
    def owner(self) -> str:
        return self.event.owner

    @property
    def task_id(self) -> str:
        return self.event.task_id

    @property
    def occurred_at(self) -> datetime:
        return self.event.occurred_at


def notice_for(envelope: EventEnvelope, event: PushedEvent, links: Links) -> Notice:
    kinds = [r.kind for r in event.results] if isinstance(event, ProcessingCompleted) else []
    text = server_messages.event(
        event.image_id, structured(envelope), links.for_image(event.image_id, kinds)
    )
    return Notice(event=event, progress=progress_of(event), text=text)
