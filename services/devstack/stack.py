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
    all_ = [
        Postgres(settings),
        Kafka(settings),
        MinIO(settings),
        Jaeger(settings),
        Prometheus(settings),
    ]
    return [c for c in all_ if not only or c.name in only]


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
