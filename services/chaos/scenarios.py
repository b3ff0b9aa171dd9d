"""The catalogue of faults: what each scenario breaks, for how long, and how it mends it."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.chaos.control import clearcut, sigkill
from services.chaos.proxy import LatencyProxy
from services.common.settings import CommonSettings


@dataclass
class Context:
    settings: CommonSettings
    # Settings given to every command the suite runs (a scenario may point the services
    # at its proxy, or MinIO at a small drive).
    env: dict[str, str] = field(default_factory=dict)
    proxy: LatencyProxy | None = None
    scratch: dict[str, Path] = field(default_factory=dict)


Step = Callable[[Context], Awaitable[None]]


async def _nothing(ctx: Context) -> None:
    return None


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    hold_s: float
    inject: Step
    recover: Step
    setup: Step = _nothing
    teardown: Step = _nothing
    min_brokers: int = 1


def _kill_service(name: str) -> tuple[Step, Step]:
    async def inject(ctx: Context) -> None:
        sigkill(ctx.settings, name)

    async def recover(ctx: Context) -> None:
        await clearcut("up", name, env=ctx.env)

    return inject, recover


def _stop(*names: str) -> tuple[Step, Step]:
    async def inject(ctx: Context) -> None:
        await clearcut("stack", "down", *names, env=ctx.env)

    async def recover(ctx: Context) -> None:
        await clearcut("stack", "up", *names, env=ctx.env)

    return inject, recover


def _kill_and_keep_down(*names: str) -> tuple[Step, Step]:
    """SIGKILL components and start them again with `clearcut stack up` after the hold: an
    outage that begins at once (MinIO, or a broker's controlled shutdown, may take most of a
    minute on SIGTERM)."""

    async def inject(ctx: Context) -> None:
        for name in names:
            sigkill(ctx.settings, name)

    async def recover(ctx: Context) -> None:
        await clearcut("stack", "up", *names, env=ctx.env)

    return inject, recover


def _kill_broker(ctx: Context) -> str:
    """The broker to kill: the only one, or the second node of a cluster."""
    return "kafka" if ctx.settings.kafka.brokers == 1 else "kafka-2"


async def _kill_broker_inject(ctx: Context) -> None:
    sigkill(ctx.settings, _kill_broker(ctx))


async def _kill_broker_recover(ctx: Context) -> None:
    await clearcut("stack", "up", _kill_broker(ctx), env=ctx.env)


async def _restart_services(ctx: Context) -> None:
    await clearcut("down", "--keep-stack", env=ctx.env)
    await clearcut("up", env=ctx.env)


# The slow store: the services reach MinIO through a proxy that adds latency on demand.
SLOW_DELAY_S = 0.5


async def _slow_setup(ctx: Context) -> None:
    s3 = ctx.settings.s3
    ctx.proxy = LatencyProxy(s3.host, s3.port)
    await ctx.proxy.start()
    ctx.env["CLEARCUT_S3_PORT"] = str(ctx.proxy.port)
    await _restart_services(ctx)


async def _slow_inject(ctx: Context) -> None:
    assert ctx.proxy is not None
    ctx.proxy.delay_s = SLOW_DELAY_S


async def _slow_recover(ctx: Context) -> None:
    assert ctx.proxy is not None
    ctx.proxy.delay_s = 0.0


async def _slow_teardown(ctx: Context) -> None:
    ctx.env.pop("CLEARCUT_S3_PORT", None)
    await _restart_services(ctx)
    if ctx.proxy is not None:
        await ctx.proxy.stop()
        ctx.proxy = None


# The full disk: MinIO's drive on a small tmpfs, filled to the brim during the fault.
DISK_MB = 64


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


def _unmount(drive: Path) -> None:
    subprocess.run(["umount", str(drive)], check=False, capture_output=True)
    shutil.rmtree(drive, ignore_errors=True)


async def _disk_setup(ctx: Context) -> None:
    mount = ctx.settings.paths.home / "chaos" / "minio-small-drive"
    mount.mkdir(parents=True, exist_ok=True)
    await clearcut("down", "--keep-stack", env=ctx.env)
    await clearcut("stack", "down", "minio", env=ctx.env)
    await asyncio.to_thread(
        _run, "mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)
    )
    ctx.scratch["drive"] = mount
    ctx.env["CLEARCUT_S3_DATA_DIR"] = str(mount)
    await clearcut("stack", "up", "minio", env=ctx.env)
    await clearcut("up", env=ctx.env)


async def _disk_inject(ctx: Context) -> None:
    filler = ctx.scratch["drive"] / "filler"
    ctx.scratch["filler"] = filler

    def fill() -> None:
        with contextlib.suppress(OSError), filler.open("wb") as f:
            block = b"\0" * (1 << 20)
            while True:
                f.write(block)
                f.flush()

    await asyncio.to_thread(fill)


async def _disk_recover(ctx: Context) -> None:
    ctx.scratch["filler"].unlink(missing_ok=True)


async def _disk_teardown(ctx: Context) -> None:
    await clearcut("down", "--keep-stack", env=ctx.env)
    await clearcut("stack", "down", "minio", env=ctx.env)
    drive = ctx.scratch.pop("drive", None)
    ctx.env.pop("CLEARCUT_S3_DATA_DIR", None)
    if drive is not None:
        await asyncio.to_thread(_unmount, drive)
    await clearcut("stack", "up", "minio", env=ctx.env)
    await clearcut("up", env=ctx.env)


def catalogue() -> list[Scenario]:
    """Every scenario, in the order a full run takes them."""
    out = [
        Scenario(f"kill-{s}", f"SIGKILL the {s} mid-burst, restart it", 2.0, *_kill_service(s))
        for s in ("processor", "projector", "notifier")
    ]
    out += [
        Scenario(
            "kill-broker",
            "SIGKILL a Kafka broker mid-burst, restart it",
            2.0,
            _kill_broker_inject,
            _kill_broker_recover,
        ),
        Scenario("minio-30s", "MinIO killed, down 30 s", 30.0, *_kill_and_keep_down("minio")),
        Scenario("minio-5m", "MinIO killed, down 5 min", 300.0, *_kill_and_keep_down("minio")),
        Scenario("postgres-60s", "PostgreSQL down 60 s", 60.0, *_stop("postgres")),
        Scenario("postgres-6m", "PostgreSQL down 6 min", 360.0, *_stop("postgres")),
        Scenario("kafka-60s", "Kafka down 60 s (every broker)", 60.0, *_stop("kafka")),
        Scenario(
            "disk-full",
            f"MinIO's drive ({DISK_MB} MB tmpfs) full for 30 s",
            30.0,
            _disk_inject,
            _disk_recover,
            _disk_setup,
            _disk_teardown,
        ),
        Scenario(
            "slow-store",
            f"every object store read and write {SLOW_DELAY_S * 1000:.0f} ms slower for 30 s",
            30.0,
            _slow_inject,
            _slow_recover,
            _slow_setup,
            _slow_teardown,
        ),
        Scenario(
            "brokers-2-down",
            "two of three Kafka brokers killed, down 30 s",
            30.0,
            *_kill_and_keep_down("kafka-2", "kafka-3"),
            min_brokers=3,
        ),
    ]
    return out


def short(name: str, hold_s: float) -> Scenario:
    """A scenario of the catalogue with a shorter outage (the test suite's quick run)."""
    (found,) = [s for s in catalogue() if s.name == name]
    return Scenario(
        found.name,
        f"{found.what}; held {hold_s:g} s in this short form",
        hold_s,
        found.inject,
        found.recover,
        found.setup,
        found.teardown,
        found.min_brokers,
    )
