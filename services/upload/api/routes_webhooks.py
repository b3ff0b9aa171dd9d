"""`/v1/webhooks/deliveries`: the caller's webhook delivery log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.upload.adapters.webhook_log import DeliveryRow, WebhookLog
from services.upload.api.dependencies import OwnerDep, ServicesDep
from services.upload.api.errors import error_responses
from services.upload.domain.listing import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    REFUSED = "refused"
    CANCELLED = "cancelled"


class AttemptView(BaseModel):
    attempt: int = Field(description="1 for the first try.")
    started_at: datetime
    duration_ms: float
    outcome: str = Field(description="`delivered` (2xx), `failed` (retried) or `refused`.")
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered.")
    error: str | None = Field(description="Why it did not succeed, when it did not.")


class DeliveryView(BaseModel):
    id: str = Field(
        description="The delivery id, also the `id` of the body and the "
        "`Clearcut-Webhook-Id` header; the same on every retry."
    )
    type: str = Field(description="`image.completed` or `image.failed`.")
    event_id: str = Field(description="The event the webhook tells of.")
    image_id: str
    task_id: str
    target: str = Field(description="`endpoint` (registered) or `callback` (the upload's).")
    endpoint_id: str | None
    url: str
    status: DeliveryStatus = Field(
        description="`pending` (waiting for its next attempt), `delivered`, `failed` (given "
        "up after the retry deadline), `refused` (target not allowed), `cancelled`."
    )
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptView] = Field(description="Every attempt, oldest first.")


class DeliveryPage(BaseModel):
    items: list[DeliveryView] = Field(description="Newest delivery first (ties by id).")
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null on the "
        "last page."
    )


def _view(row: DeliveryRow) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        type=row.event_type,
        event_id=row.event_id,
        image_id=row.image_id,
        task_id=row.task_id,
        target=row.target,
        endpoint_id=row.endpoint_id,
        url=row.url,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        attempt_log=[
            AttemptView(
                attempt=a.attempt,
                started_at=a.started_at,
                duration_ms=a.duration_ms,
                outcome=a.outcome,
                status_code=a.status_code,
                error=a.error,
            )
            for a in row.attempt_log
        ],
    )


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    summary="Your webhook deliveries and their attempts",
    description="Every webhook the webhooks service created for your images' completions and "
    "failures (to your registered endpoints and to uploads' `callback_url`), newest first, "
    "with every attempt: status code, error, duration. A page at a time: pass "
    "`next_cursor` as `cursor`, with the same filters.",
    responses=error_responses(400, 401, 422, 503),
)
async def list_deliveries(
    services: ServicesDep,
    owner: OwnerDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Deliveries per page, 1..{MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only deliveries with this status.")
    ] = None,
    image_id: Annotated[
        str | None, Query(max_length=128, description="Only deliveries about this image.")
    ] = None,
) -> DeliveryPage:
    after = None if cursor is None else decode_cursor(cursor)
    rows, more = await WebhookLog(services.pool).page(
        owner,
        limit=limit,
        status=None if status is None else status.value,
        image_id=image_id,
        after=after,
    )
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return DeliveryPage(items=[_view(r) for r in rows], next_cursor=next_cursor)
