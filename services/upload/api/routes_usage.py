"""`/v1/usage`: what the caller uploaded and had processed, by day."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from services.upload.adapters.usage import UsageQueries
from services.upload.api.dependencies import OwnerDep, ServicesDep
from services.upload.api.errors import error_responses
from services.upload.api.models import DayUsageView, UsageTotalsView, UsageView
from services.upload.api.query_types import Day
from services.upload.domain.usage import MAX_DAYS, totals, usage_range

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get(
    "",
    response_model=UsageView,
    summary="Your usage by day",
    description="Images uploaded (deleted ones included), tasks processed and failed, "
    "megapixels processed and result bytes written, per UTC day from `since` (included) to "
    f"`until` (excluded), at most {MAX_DAYS} days; days without activity are left out. "
    "Default: the last 30 days up to today. Uploads count on their upload day, tasks on the "
    "day they finished; a task retried until it completed counts once, as processed.",
    responses=error_responses(401, 422, 503),
)
async def get_usage(
    services: ServicesDep,
    owner: OwnerDep,
    since: Annotated[Day | None, Query(description="First day (UTC), `YYYY-MM-DD`.")] = None,
    until: Annotated[
        Day | None, Query(description="Day after the last one (UTC), `YYYY-MM-DD`.")
    ] = None,
) -> UsageView:
    days = usage_range(since, until, datetime.now(UTC).date())
    found = await UsageQueries(services.pool).by_day(owner, days)
    total = totals(found)
    return UsageView(
        owner=owner,
        since=days.since,
        until=days.until,
        days=[
            DayUsageView(
                day=d.day,
                uploaded=d.uploaded,
                processed=d.processed,
                failed=d.failed,
                megapixels=d.megapixels,
                result_bytes=d.result_bytes,
            )
            for d in found
        ],
        total=UsageTotalsView(
            uploaded=total.uploaded,
            processed=total.processed,
            failed=total.failed,
            megapixels=total.megapixels,
            result_bytes=total.result_bytes,
        ),
    )
