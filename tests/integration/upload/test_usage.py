"""Usage by day against the real stack: `GET /v1/usage` for the caller, `clearcut usage` for
operators, from rows the projection wrote."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg

from schemas import ImageUploaded, utc_now
from services.upload.projector.projection import Projection
from tests.integration.upload.conftest import Api, Owner
from tests.integration.upload.observe import events_of
from tests.unit.upload import events as ev
from tests.unit.upload import samples


async def test_usage_counts_uploads_results_and_failures_by_day(
    api: Api, owner: Owner, other_owner: Owner, pg_pool: asyncpg.Pool
) -> None:
    for who, count in ((owner, 3), (other_owner, 1)):
        for _ in range(count):
            answer = await api.client.post(
                "/v1/images", content=samples.photo(64, 48), headers=who.headers
            )
            assert answer.status_code == 202
    projection = Projection(pg_pool)
    uploads = [
        e.event
        for _, e in await events_of(api.common, api.common.topics.uploaded, owner.name)
        if isinstance(e.event, ImageUploaded)
    ]
    for event in uploads:
        await projection.apply(event)
    for _, e in await events_of(api.common, api.common.topics.uploaded, other_owner.name):
        await projection.apply(e.event)
    done, failed, deleted = uploads
    completed = ev.completed(done.image_id, done.task_id, owner=owner.name, at=2)
    await projection.apply(completed)
    await projection.apply(
        ev.failed(failed.image_id, failed.task_id, owner=owner.name, at=3, retriable=False)
    )
    assert (
        await api.client.delete(f"/v1/images/{deleted.image_id}", headers=owner.headers)
    ).is_success
    for _, e in await events_of(api.common, api.common.topics.deleted, owner.name):
        await projection.apply(e.event)

    today = utc_now().date()
    task_day = completed.occurred_at.date()
    answer = await api.client.get(
        "/v1/usage",
        params={"since": task_day.isoformat(), "until": "2027-01-01"},
        headers=owner.headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["owner"] == owner.name
    days = {d["day"]: d for d in body["days"]}
    assert set(days) == {task_day.isoformat(), today.isoformat()}
    finished = days[task_day.isoformat()]
    assert (finished["uploaded"], finished["processed"], finished["failed"]) == (0, 1, 1)
    assert finished["megapixels"] == 64 * 48 / 1e6
    assert finished["result_bytes"] == sum(r.size for r in completed.results)
    assert days[today.isoformat()]["uploaded"] == 3, "the deleted image was uploaded too"
    assert body["total"]["uploaded"] == 3 and body["total"]["processed"] == 1

    for params in ({"since": "2026-02-01", "until": "2026-01-01"}, {"since": "2020-01-01"}):
        refused = await api.client.get("/v1/usage", params=params, headers=owner.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "validation_error"

    printed = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "usage",
            "--json",
            "--since",
            task_day.isoformat(),
            "--until",
            "2027-01-01",
        ],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    document = json.loads(printed.stdout)
    assert document["totals"][owner.name]["uploaded"] == 3
    assert document["totals"][other_owner.name]["uploaded"] == 1
    assert document["totals"][owner.name]["failed"] == 1
