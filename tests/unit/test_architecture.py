"""The architecture stays visible: shared code is shared, services never import each other,
domain code does no I/O, the local stack's tooling knows no service, no service knows the
benchmark suite, and importing any module connects to nothing."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import socket
from pathlib import Path

import pytest

import services

ROOT = Path(services.__file__).resolve().parent
SERVICES = ("upload", "processor", "notifier", "webhooks")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_shared_package_holds_no_service_code() -> None:
    for path in _modules_under(ROOT / "common"):
        for name in _imports(path):
            for service in SERVICES:
                assert not name.startswith(f"services.{service}"), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


@pytest.mark.parametrize("service", SERVICES)
def test_services_do_not_import_each_other(service: str) -> None:
    others = [s for s in SERVICES if s != service]
    for path in _modules_under(ROOT / service):
        for name in _imports(path):
            for other in others:
                assert not name.startswith(f"services.{other}"), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )
            assert not name.startswith("services.cli"), f"{path} imports the CLI"


# Clients and frameworks of the outside world: a ``domain/`` package imports none of them.
IO_LIBRARIES = (
    "aiokafka",
    "faust",
    "asyncpg",
    "minio",
    "httpx",
    "aiohttp",
    "opentelemetry.exporter",
    "boto3",
    "botocore",
    "requests",
    "websockets",
)


def _is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _domain_modules() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.py") if "domain" in path.relative_to(ROOT).parts)


def test_every_service_has_a_domain_package_and_the_check_sees_it() -> None:
    folders = {path.relative_to(ROOT).parts[0] for path in _domain_modules()}
    assert set(SERVICES) <= folders


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_names_its_roles_the_same_way(service: str) -> None:
    """One name per role (docs/architecture.md): `settings.py` the settings model,
    `composition.py` the composition root, `domain/` the pure core, `README.md`; and one
    entrypoint per process: `main.py`, or `api/app.py` for the upload service's HTTP API."""
    folder = ROOT / service
    for role in ("settings.py", "composition.py", "domain/__init__.py", "README.md"):
        assert (folder / role).is_file(), f"services/{service}/{role}"
    entrypoint = folder / ("api/app.py" if service == "upload" else "main.py")
    assert entrypoint.is_file(), entrypoint
    for other in ("container.py", "app.py", "worker.py"):
        assert not (folder / other).exists(), f"services/{service}/{other}: use the role's name"


def test_domain_code_imports_no_io_library() -> None:
    for path in _domain_modules():
        for name in _imports(path):
            for library in IO_LIBRARIES:
                assert not _is_under(name, library), (
                    f"{path.relative_to(ROOT)} imports {name}, an I/O library"
                )


def test_the_local_stack_imports_no_service() -> None:
    for path in _modules_under(ROOT / "devstack"):
        for name in _imports(path):
            for service in (*SERVICES, "cli", "run"):
                assert not _is_under(name, f"services.{service}"), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


def test_no_service_imports_the_benchmark_suite() -> None:
    for path in _modules_under(ROOT):
        for name in _imports(path):
            if path.relative_to(ROOT).parts[0] == "cli" and path.name == "bench.py":
                continue  # `clearcut bench` is the suite's own command
            assert not _is_under(name, "bench"), f"{path.relative_to(ROOT)} imports {name}"


def test_the_rules_would_catch_a_breach() -> None:
    assert _is_under("aiokafka.structs", "aiokafka")
    assert _is_under("opentelemetry.exporter.otlp.proto.grpc", "opentelemetry.exporter")
    assert not _is_under("opentelemetry.trace", "opentelemetry.exporter")
    assert not _is_under("benchmarks", "bench")
    assert "services.processor.settings" in _imports(ROOT / "run" / "model.py")


def test_importing_every_module_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("connecting at import time is not allowed")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    imported = 0
    for info in pkgutil.walk_packages([str(ROOT)], prefix="services."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            # Optional extras (onnxruntime, onnx) may be absent in a slim install.
            if exc.name and exc.name.split(".")[0] in {"onnxruntime", "onnx", "cv2"}:
                continue
            raise
        imported += 1
    assert imported > 10
    assert attempts == []
