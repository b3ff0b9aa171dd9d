"""The fault suite's quick form: a worker killed and the object store down mid-burst; every
accepted upload ends completed exactly once and a refused one gets 503 with Retry-After."""

from __future__ import annotations

import pytest

from services.chaos.runner import run_scenario
from services.chaos.scenarios import Context, short
from services.chaos.tally import Tally
from services.common.auth import AuthSettings
from services.common.settings import CommonSettings
from tests.e2e.conftest import Pipeline

pytestmark = [pytest.mark.disruptive, pytest.mark.timeout(900)]

UPLOADS = 6
INTERVAL_S = 0.5


async def _run(stack: CommonSettings, pipeline: Pipeline, name: str, hold_s: float) -> Tally:
    result = await run_scenario(
        short(name, hold_s),
        Context(stack),
        api=pipeline.api,
        key=pipeline.key,
        owner=AuthSettings().dev_owner,
        count=UPLOADS,
        interval_s=INTERVAL_S,
        settle_s=240,
        say=print,
    )
    print(result)
    assert result.accepted == UPLOADS, result
    assert result.completed == UPLOADS, result
    assert result.lost == [] and result.duplicated == [], result
    assert result.orphans == [], result
    assert not result.bad_statuses, result
    return result


async def test_a_processor_killed_mid_burst_loses_and_repeats_nothing(
    stack: CommonSettings, pipeline: Pipeline
) -> None:
    await _run(stack, pipeline, "kill-processor", 1.0)


async def test_uploads_during_an_object_store_outage_are_refused_with_retry_after(
    stack: CommonSettings, pipeline: Pipeline
) -> None:
    result = await _run(stack, pipeline, "minio-30s", 8.0)
    # The outage covered most of the burst: some attempts were refused, then retried.
    assert result.statuses["503"] >= 1, result
