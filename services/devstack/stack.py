"""The local stack as a whole: the third-party components in start order."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from services.common.settings import CommonSettings
from services.devstack.component import Component
from services.devstack.jaeger import Jaeger
from services.devstack.kafka import Kafka
from services.devstack.minio import MinIO
from services.devstack.postgres import Postgres
from services.devstack.prometheus import Prometheus

COMPONENT_NAMES = ("postgres", "kafka", "minio", "jaeger", "prometheus")


def components(settings: CommonSettings, only: list[str] | None = None) -> list[Component]:
    """The components in start order; ``only`` names components (``kafka`` names every
    Kafka node, ``kafka-2`` one node of a cluster)."""
    nodes = [Kafka(settings, n) for n in range(1, settings.kafka.brokers + 1)]
    all_ = [Postgres(settings), *nodes, MinIO(settings), Jaeger(settings), Prometheus(settings)]
    return [c for c in all_ if not only or c.name in only or c.group in only]


def component_names(settings: CommonSettings) -> list[str]:
    """Every name ``components`` accepts."""
    names = list(COMPONENT_NAMES)
    if settings.kafka.brokers > 1:
        names += [f"kafka-{n}" for n in range(1, settings.kafka.brokers + 1)]
    return names


def running_kafka_nodes(settings: CommonSettings) -> list[Component]:
    """Kafka nodes of this home that run, whatever cluster size the settings name now, so
    that stopping the stack never leaves a node of another size behind."""
    found: list[Component] = []
    for size in range(1, 10):
        sized = settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"brokers": size})}
        )
        for node in range(1, size + 1):
            candidate = Kafka(sized, node)
            if candidate.process.pid() is not None and all(c.name != candidate.name for c in found):
                found.append(candidate)
    return found


def install_all(
    settings: CommonSettings,
    only: list[str] | None = None,
    extra: list[tuple[str, Callable[[], object]]] | None = None,
) -> None:
    """Fetch and build everything first, so a long build never happens between two starts.

    Builds and downloads are independent, so they run side by side (with the ``extra`` steps
    of the caller, such as fetching the model); Debian packages go first because apt takes a
    lock of its own.
    """
    chosen = components(settings, only)
    steps: list[tuple[str, Callable[[], object]]] = [(c.name, c.install) for c in chosen]
    steps += extra or []
    for name, step in steps:
        if name == "postgres":
            step()
    parallel = [(name, step) for name, step in steps if name != "postgres"]
    with ThreadPoolExecutor(max_workers=len(parallel) or 1) as pool:
        futures = [pool.submit(step) for _, step in parallel]
        for future in futures:
            future.result()  # re-raises the first failure, naming its component


def wipe(settings: CommonSettings) -> None:
    """Remove all local state (data and logs); build caches are kept."""
    home = settings.paths.home
    for link in (home / "postgres",):  # state kept outside the home, linked from it
        if link.is_symlink():
            shutil.rmtree(link.resolve(), ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
