"""Measure `projection rebuild` on the real stack (not collected as a test):

    python -m tests.integration.upload.measure_rebuild IMAGES

publishes the histories of IMAGES images (about 4.2 events each) to fresh topics of three
partitions, lets a live projector build the read model in a schema of its own, then runs a
rebuild (with the swap) and a dry run, and prints their times and rates. The topics and the
schema are removed afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from services.common.kafka.admin import admin_client, create_topics, project_topics
from services.common.kafka.producer import EventPublisher, create_producer
from services.common.settings import CommonSettings, TopicNames
from services.upload.adapters.postgres import connect
from services.upload.projector.rebuild import rebuild_read_model
from services.upload.projector.runner import run_projector
from services.upload.settings import UploadSettings
from tests.integration.upload.isolated import isolated_schema
from tests.unit.upload.histories import histories


async def measure(images: int) -> None:
    stack = CommonSettings()
    unique = uuid.uuid4().hex[:8]
    topics = TopicNames(prefix=f"measure.rebuild.{unique}.", partitions=3)
    await create_topics(stack.kafka, project_topics(topics))
    events, distinct = histories(f"m-{unique}", images)
    try:
        async with isolated_schema(stack) as pg:
            common = stack.model_copy(update={"topics": topics, "postgres": pg})
            producer = create_producer(stack.kafka, "clearcut-measure")
            await producer.start()
            try:
                publisher = EventPublisher(producer, topics, "/clearcut/measure")
                for start in range(0, len(events), 200):
                    await asyncio.gather(
                        *(publisher.publish(e) for e in events[start : start + 200])
                    )
            finally:
                await producer.stop()
            print(f"published {len(events)} records ({distinct} distinct events)")

            stop = asyncio.Event()
            started = time.monotonic()
            settings = UploadSettings(projector_group=f"measure-{unique}")
            projector = asyncio.create_task(run_projector(settings, common, stop))
            conn = await connect(pg)
            try:
                while True:
                    if await conn.fetchval("SELECT count(*) FROM applied_events") >= distinct:
                        break
                    await asyncio.sleep(0.5)
                took = time.monotonic() - started
                print(f"live projector: {took:.1f} s, {len(events) / took:.0f} events/s")

                report = await rebuild_read_model(common)
                print(
                    f"rebuild: {report.records} records, build {report.build_seconds:.2f} s "
                    f"({report.events_per_second:.0f} events/s), swap {report.swap_seconds:.2f} s, "
                    f"rows {report.rows}"
                )
                dry = await rebuild_read_model(common, dry_run=True)
                print(
                    f"dry run: build {dry.build_seconds:.2f} s "
                    f"({dry.events_per_second:.0f} events/s), differences {dry.differences}"
                )
            finally:
                stop.set()
                await projector
                await conn.close()
    finally:
        admin = admin_client(stack.kafka)
        await admin.start()
        try:
            await admin.delete_topics(topics.all_topics)
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
