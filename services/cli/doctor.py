"""``clearcut doctor``: is this machine ready to run Clearcut, and is it running?"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

import typer
from rich.console import Console

from services.common.settings import CommonSettings
from services.devstack.stack import components
from services.run.model import model_status
from services.run.processes import services

console = Console(soft_wrap=True)

PACKAGES = (
    "aiokafka",
    "onnxruntime",
    "onnxruntime-gpu",
    "fastapi",
    "minio",
    "asyncpg",
    "opentelemetry-sdk",
    "pydantic",
)
MIN_FREE_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    remedy: str = ""
    required: bool = True


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check(
        "python",
        sys.version_info >= (3, 11),
        f"Python {version} ({sys.executable})",
        "install Python 3.11 or newer and recreate .venv (make clean up)",
    )


def check_packages() -> list[Check]:
    checks = []
    for name in PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "onnxruntime-gpu":
                continue  # optional: only with the `gpu` extra
            checks.append(
                Check(
                    f"package {name}",
                    False,
                    "not installed",
                    "pip install -e '.[dev]' (or make up)",
                )
            )
            continue
        checks.append(Check(f"package {name}", True, version))
    return checks


def check_providers() -> Check:
    try:
        import onnxruntime
    except ImportError:
        return Check(
            "execution providers",
            False,
            "onnxruntime is not installed",
            "pip install -e '.[processor]' (or '.[gpu]' on a GPU machine)",
        )
    providers = onnxruntime.get_available_providers()
    gpu = [p for p in providers if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")]
    detail = ", ".join(providers) + (
        "" if gpu else "  (no GPU provider: inference runs on the CPU)"
    )
    return Check(
        "execution providers",
        True,
        detail,
        "" if gpu else "for a GPU: install the `gpu` extra and NVIDIA drivers, CUDA, cuDNN",
        required=False,
    )


def check_disk(settings: CommonSettings) -> Check:
    target = settings.paths.home if settings.paths.home.exists() else settings.paths.home.parent
    free = shutil.disk_usage(target).free
    return Check(
        "disk space",
        free >= MIN_FREE_BYTES,
        f"{free / 1024**3:.1f} GiB free at {target}",
        f"free at least {MIN_FREE_BYTES // 1024**3} GiB (clearcut stack down --wipe drops data)",
    )


def check_model(settings: CommonSettings) -> Check:
    status = model_status(settings)
    return Check(
        "model cache",
        status.healthy,
        f"{status.version} at {status.address}",
        "clearcut stack install (fetches and verifies the default model)",
    )


def check_components(settings: CommonSettings) -> list[Check]:
    checks = []
    for component in components(settings):
        s = component.status()
        state = "answers" if s.healthy else ("runs but does not answer" if s.running else "down")
        checks.append(
            Check(
                component.name,
                s.healthy,
                f"{state}; {s.version}; {s.address}",
                f"clearcut stack up {component.name}; log: {s.log}",
            )
        )
    return checks


def check_services(settings: CommonSettings) -> list[Check]:
    checks = []
    for service in services(settings):
        ready = service.ready()
        running = service.process.pid() is not None
        state = "ready" if ready else ("started, not ready" if running else "not running")
        checks.append(
            Check(
                f"service {service.spec.name}",
                ready,
                f"{state} at {service.url}",
                f"clearcut up; log: {service.log_file}",
            )
        )
    return checks


def run_checks(settings: CommonSettings) -> list[Check]:
    groups: list[Callable[[], list[Check]]] = [
        lambda: [check_python()],
        check_packages,
        lambda: [check_providers()],
        lambda: [check_disk(settings), check_model(settings)],
        lambda: check_components(settings),
        lambda: check_services(settings),
    ]
    return [check for group in groups for check in group()]


def doctor() -> None:
    """Check Python, packages, execution providers, the model cache, disk space, and whether
    each component and service answers; print a remedy for every problem."""
    checks = run_checks(CommonSettings())
    for c in checks:
        mark = "[green]ok[/]  " if c.ok else ("[red]FAIL[/]" if c.required else "[yellow]warn[/]")
        console.print(f"{mark} {c.name:<26} {c.detail}", highlight=False)
        if c.remedy and (not c.ok or not c.required):
            console.print(f"     {'':<26} → {c.remedy}", highlight=False)
    failed = [c for c in checks if c.required and not c.ok]
    if failed:
        console.print(f"\n{len(failed)} problem(s): {', '.join(c.name for c in failed)}")
        raise typer.Exit(1)
    console.print("\nEverything Clearcut needs is here and answering.")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
