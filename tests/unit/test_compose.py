"""docker-compose.yml is valid Compose and agrees with the settings defaults.

There is no Docker engine where these tests run: Compose v1 (`docker-compose`) validates and
resolves the file without one. The resolved form (env files merged, `${...}` interpolated)
is compared with the defaults of the settings classes, so that the CLI and the tests on the
host reach the compose stack with the same configuration as the local stack.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from services.common import settings as common_settings
from services.common.settings import (
    CommonSettings,
    KafkaSettings,
    PostgresSettings,
    PrometheusSettings,
    S3Settings,
    TelemetrySettings,
)
from services.devstack.gotools import PROMTOOL
from services.devstack.prometheus import scrape_config
from services.notifier.settings import NotifierSettings
from services.processor.settings import ProcessorSettings
from services.upload.settings import UploadSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKER_DIR = REPO_ROOT / "deploy" / "docker"
INSTALL_HINT = (
    "docker-compose (Compose v1) is required to validate docker-compose.yml; "
    "install it with: apt-get update && apt-get install -y docker-compose"
)

# Where each infrastructure setting lives in the compose file.
INFRA_SERVICE: dict[type[BaseSettings], str] = {
    KafkaSettings: "kafka",
    S3Settings: "minio",
    PostgresSettings: "postgres",
    TelemetrySettings: "jaeger",
}
# Ports of the infrastructure that the host reaches through a published port.
PUBLISHED_PORTS: list[tuple[type[BaseSettings], str]] = [
    (KafkaSettings, "port"),
    (S3Settings, "port"),
    (S3Settings, "console_port"),
    (PostgresSettings, "port"),
    (TelemetrySettings, "otlp_grpc_port"),
    (TelemetrySettings, "otlp_http_port"),
    (TelemetrySettings, "query_port"),
    (TelemetrySettings, "health_port"),
]
# Ports the services use inside the compose network (Kafka is checked through its listeners).
NETWORK_PORTS: list[tuple[type[BaseSettings], str]] = [
    (S3Settings, "port"),
    (PostgresSettings, "port"),
    (TelemetrySettings, "otlp_grpc_port"),
    (TelemetrySettings, "otlp_http_port"),
]
# Settings the services must use unchanged: credentials and names shared with the local stack.
SHARED_VALUES: list[tuple[type[BaseSettings], str]] = [
    (S3Settings, "access_key"),
    (S3Settings, "secret_key"),
    (S3Settings, "bucket_originals"),
    (S3Settings, "bucket_results"),
    (PostgresSettings, "database"),
    (PostgresSettings, "user"),
    (PostgresSettings, "password"),
]
# The infrastructure's own credentials, which must be the services' login.
INFRA_CREDENTIALS: list[tuple[str, str, type[BaseSettings], str]] = [
    ("minio", "MINIO_ROOT_USER", S3Settings, "access_key"),
    ("minio", "MINIO_ROOT_PASSWORD", S3Settings, "secret_key"),
    ("postgres", "POSTGRES_USER", PostgresSettings, "user"),
    ("postgres", "POSTGRES_PASSWORD", PostgresSettings, "password"),
    ("postgres", "POSTGRES_DB", PostgresSettings, "database"),
]
# Services with an HTTP port of their own, and the env prefix of their settings.
HTTP_SERVICES = {
    "upload": "CLEARCUT_UPLOAD_",
    "notifier": "CLEARCUT_NOTIFIER_",
    "webhooks": "CLEARCUT_WEBHOOKS_",
}
COMMANDS = {
    "init": ["clearcut", "init"],
    "upload": ["clearcut", "upload"],
    "projector": ["clearcut", "projector"],
    "processor": ["clearcut", "processor"],
    "notifier": ["clearcut", "notifier"],
    "webhooks": ["clearcut", "webhooks", "serve"],
}
INIT_SERVICE = "init"
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
# Compose services with a /metrics endpoint -> (settings class, bind field, port field) and
# the job of the local stack's Prometheus that scrapes them.
METRICS: dict[str, tuple[type[BaseSettings], str, str, str]] = {
    "upload": (UploadSettings, "host", "port", "clearcut-upload"),
    "notifier": (NotifierSettings, "host", "port", "clearcut-notifier"),
    "processor": (ProcessorSettings, "web_host", "web_port", "clearcut-processor"),
    "processor-cpu": (ProcessorSettings, "web_host", "web_port", "clearcut-processor"),
    "projector": (UploadSettings, "host", "projector_metrics_port", "clearcut-projector"),
}
ALLOWED_CONDITIONS = {"service_healthy", "service_completed_successfully"}
SECRET_KEY_RE = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|PRIVATE_KEY|CREDENTIAL", re.I)
INTERPOLATION_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    # Only the file decides: no project variables or Compose overrides from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARCUT_", "COMPOSE_"))}
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load_mapping(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "expected a YAML mapping"
    return data


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The file as Compose resolves it."""
    result = _compose("config")
    if result.returncode != 0:
        pytest.fail(f"docker-compose config failed:\n{result.stderr}", pytrace=False)
    return _load_mapping(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as written (YAML anchors and merge keys expanded)."""
    return _load_mapping(COMPOSE_FILE.read_text())


def _services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = config.get("services")
    assert isinstance(services, dict) and services, "no services in the compose file"
    return services


def _built(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in _services(config).items() if "build" in svc}


def _pulled(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in _services(config).items() if "build" not in svc}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _published(service: dict[str, Any]) -> dict[int, int]:
    """Host port -> container port of a service's published ports."""
    mapping: dict[int, int] = {}
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") is not None:
                mapping[int(port["published"])] = int(port["target"])
            continue
        parts = str(port).split("/", 1)[0].split(":")
        if len(parts) >= 2:
            mapping[int(parts[-2])] = int(parts[-1])
    return mapping


def _volumes(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume, in the short or the long syntax."""
    found = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            found.append((volume["source"], volume["target"], bool(volume.get("read_only"))))
            continue
        source, target, *mode = str(volume).split(":")
        found.append((source, target, mode == ["ro"]))
    return found


def _is_bind(source: str) -> bool:
    return source.startswith(("/", "."))


def _default(model: type[BaseSettings], field: str) -> Any:
    value = model.model_fields[field].get_default(call_default_factory=True)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _env_name(model: type[BaseSettings], field: str) -> str:
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def _settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the project: the common ones and each service's own."""
    modules = [common_settings]
    for path in sorted(REPO_ROOT.glob("services/*/settings.py")):
        modules.append(importlib.import_module(f"services.{path.parent.name}.settings"))
    found: list[type[BaseSettings]] = []
    for module in modules:
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, BaseSettings)
                and obj is not BaseSettings
                and obj not in found
            ):
                found.append(obj)
    return found


def _settings_with_prefix(prefix: str) -> list[type[BaseSettings]]:
    return [c for c in _settings_classes() if c.model_config.get("env_prefix") == prefix]


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` -> {NAME: (host, port)}."""
    listeners: dict[str, tuple[str, int]] = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        listeners[name] = (host, int(port))
    return listeners


def _image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _is_pinned(image: str, *, local: bool = False) -> bool:
    if "@sha256:" in image:
        return True
    tag = _image_tag(image)
    if not tag or tag == "latest" or "$" in tag:
        return False
    return local or any(ch.isdigit() for ch in tag)


def _dockerfile_bases(path: Path) -> list[str]:
    args: dict[str, str] = {}
    stages: set[str] = set()
    bases: list[str] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if arg := re.match(r"ARG\s+(\w+)=(\S+)", line, re.I):
            args.setdefault(arg[1], arg[2].strip("\"'"))
        elif src := re.match(r"FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line, re.I):
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], src[1])
            if image not in stages:
                bases.append(image)
            if src[2]:
                stages.add(src[2])
    return bases


def _walk(node: Any) -> list[tuple[str, Any]]:
    """Every (key, value) pair in a YAML tree, `KEY=value` list items included."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            pairs.append((str(key), value))
            pairs.extend(_walk(value))
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", item):
                key, value = item.split("=", 1)
                pairs.append((key, value))
            else:
                pairs.extend(_walk(item))
    return pairs


def test_compose_file_is_valid() -> None:
    result = _compose("config", "-q")
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stderr}"


@pytest.mark.parametrize(
    ("model", "field"), PUBLISHED_PORTS, ids=[f"{m.__name__}.{f}" for m, f in PUBLISHED_PORTS]
)
def test_published_ports_are_the_settings_defaults(
    resolved: dict[str, Any], model: type[BaseSettings], field: str
) -> None:
    service = INFRA_SERVICE[model]
    published = _published(_services(resolved)[service])
    assert _default(model, field) in published, (
        f"{service} must publish host port {_default(model, field)} ({_env_name(model, field)} "
        f"default); it publishes {sorted(published)}"
    )


def test_services_reach_the_infrastructure_by_service_name(resolved: dict[str, Any]) -> None:
    services = _services(resolved)
    for name, service in _built(resolved).items():
        env = _environment(service)
        for model, infra in INFRA_SERVICE.items():
            assert infra in services
            var = _env_name(model, "host")
            assert env.get(var) == infra, f"{name}: {var} must be {infra!r}"
        for model, field in NETWORK_PORTS:
            infra = INFRA_SERVICE[model]
            target = _published(services[infra])[_default(model, field)]
            var = _env_name(model, field)
            port = int(env.get(var, _default(model, field)))
            assert port == target, (
                f"{name}: {var}={port}, but {infra} listens on {target} inside the network"
            )


def test_kafka_listeners_serve_both_the_network_and_the_host(resolved: dict[str, Any]) -> None:
    services = _services(resolved)
    env = _environment(services["kafka"])
    assert env.get("KAFKA_PROCESS_ROLES", "").split(",") == ["broker", "controller"]
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"
    bound = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])

    host, port = _default(KafkaSettings, "host"), _default(KafkaSettings, "port")
    from_host = [n for n, address in advertised.items() if address == (host, port)]
    assert from_host, f"no listener is advertised as {host}:{port} for clients on the host"
    target = _published(services["kafka"])[port]
    assert bound[from_host[0]][1] == target, (
        f"host port {port} maps to container port {target}, not to listener {from_host[0]}"
    )

    for name, service in _built(resolved).items():
        app = _environment(service)
        address = (
            app[_env_name(KafkaSettings, "host")],
            int(app.get(_env_name(KafkaSettings, "port"), port)),
        )
        in_network = [n for n, a in advertised.items() if a == address]
        assert in_network, f"{name}: no Kafka listener is advertised as {address[0]}:{address[1]}"
        assert bound[in_network[0]][1] == address[1]


def test_credentials_are_the_settings_defaults(resolved: dict[str, Any]) -> None:
    services = _services(resolved)
    for infra, var, model, field in INFRA_CREDENTIALS:
        value = _environment(services[infra]).get(var)
        assert value == _default(model, field), (
            f"{infra}: {var} must equal the default of {_env_name(model, field)}"
        )
    for name, service in _built(resolved).items():
        env = _environment(service)
        for model, field in SHARED_VALUES:
            var = _env_name(model, field)
            assert env.get(var, _default(model, field)) == _default(model, field), (
                f"{name}: {var} differs from its settings default"
            )


def test_services_agree_on_shared_settings(resolved: dict[str, Any]) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for name, service in _built(resolved).items():
        for var, value in _environment(service).items():
            if not var.startswith("CLEARCUT_") or var.startswith(tuple(HTTP_SERVICES.values())):
                continue
            first = seen.setdefault(var, (name, value))
            assert first[1] == value, f"{var}: {first[0]} has {first[1]!r}, {name} has {value!r}"


def test_environment_names_are_settings_fields(resolved: dict[str, Any]) -> None:
    classes = _settings_classes()
    unknown: set[str] = set()
    for service in _built(resolved).values():
        for var in _environment(service):
            if not var.startswith("CLEARCUT_"):
                continue
            if any(
                var.startswith(prefix := c.model_config.get("env_prefix", ""))
                and var[len(prefix) :].lower() in c.model_fields
                for c in classes
            ):
                continue
            unknown.add(var)
    assert not unknown, f"not the name of any settings field: {sorted(unknown)}"


@pytest.mark.parametrize("service_name", sorted(HTTP_SERVICES))
def test_service_ports_agree_with_their_settings(
    resolved: dict[str, Any], service_name: str
) -> None:
    prefix = HTTP_SERVICES[service_name]
    service = _services(resolved)[service_name]
    port = int(_environment(service)[f"{prefix}PORT"])
    published = _published(service)
    assert published.get(port) == port, (
        f"{service_name} listens on {port} but publishes {published}"
    )
    models = [m for m in _settings_with_prefix(prefix) if "port" in m.model_fields]
    assert models, f"no settings class with env prefix {prefix} and a port field"
    assert port == _default(models[0], "port"), f"{prefix}PORT differs from its settings default"


def test_images_are_pinned(resolved: dict[str, Any]) -> None:
    for name, service in _services(resolved).items():
        image = service.get("image")
        assert image, f"{name} has no image (built services name theirs too)"
        assert _is_pinned(image, local="build" in service), f"{name}: {image} is not pinned"
    dockerfiles = sorted(DOCKER_DIR.glob("*.Dockerfile"))
    assert dockerfiles
    for path in dockerfiles:
        bases = _dockerfile_bases(path)
        assert bases, f"{path.name} has no FROM"
        for base in bases:
            assert _is_pinned(base), f"{path.name}: base image {base} is not pinned"


def test_built_services_use_the_project_dockerfiles(resolved: dict[str, Any]) -> None:
    services = _services(resolved)
    for name, command in COMMANDS.items():
        assert services[name].get("command") == command, f"{name} must run {' '.join(command)}"
    for name, service in _built(resolved).items():
        build = service["build"]
        dockerfile = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        assert dockerfile.parent == DOCKER_DIR, f"{name}: Dockerfiles live in {DOCKER_DIR}"
    assert services["processor"]["build"]["dockerfile"].endswith("processor.Dockerfile")


def test_processor_reserves_gpus(resolved: dict[str, Any]) -> None:
    processor = _services(resolved)["processor"]
    devices = processor["deploy"]["resources"]["reservations"]["devices"]
    assert {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]} in devices


def test_dependencies_use_conditions(raw: dict[str, Any]) -> None:
    services = _services(raw)
    for name, service in services.items():
        depends_on = service.get("depends_on")
        if depends_on is None:
            continue
        assert isinstance(depends_on, dict), f"{name}: depends_on must name a condition"
        for dependency, spec in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            condition = (spec or {}).get("condition")
            assert condition in ALLOWED_CONDITIONS, f"{name} -> {dependency}: {condition}"
            target = services[dependency]
            if condition == "service_healthy":
                assert target.get("healthcheck", {}).get("test"), f"{dependency}: no healthcheck"
            else:
                assert str(target.get("restart", "no")) == "no", f"{dependency} is not one-shot"

    init_deps = services[INIT_SERVICE]["depends_on"]
    assert {spec["condition"] for spec in init_deps.values()} == {"service_healthy"}
    for name in _built(raw):
        if name == INIT_SERVICE:
            continue
        spec = services[name].get("depends_on", {}).get(INIT_SERVICE)
        assert spec == {"condition": "service_completed_successfully"}, (
            f"{name} must wait for {INIT_SERVICE} to complete"
        )


def test_infrastructure_has_healthchecks_and_named_volumes(resolved: dict[str, Any]) -> None:
    named = set(resolved.get("volumes") or {})
    for name, service in _services(resolved).items():
        for source, _, read_only in _volumes(service):
            if _is_bind(source):
                # Only configuration from deploy/, read-only.
                path = (REPO_ROOT / source).resolve()
                assert path.is_relative_to(REPO_ROOT / "deploy"), f"{name}: binds {source}"
                assert read_only, f"{name}: {source} must be mounted read-only"
                continue
            assert source in named, f"{name}: volume {source} is not a named volume"
    for name, service in _pulled(resolved).items():
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name}: no healthcheck"
    for model in (KafkaSettings, S3Settings, PostgresSettings):
        infra = INFRA_SERVICE[model]
        assert _services(resolved)[infra].get("volumes"), f"{infra} keeps no data volume"


def test_no_literal_secrets_in_the_compose_file(raw: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    for model, field in SHARED_VALUES:
        if isinstance(model.model_fields[field].default, SecretStr):
            assert str(_default(model, field)) not in text, (
                f"the default {_env_name(model, field)} appears in docker-compose.yml"
            )
    for key, value in _walk(raw):
        if SECRET_KEY_RE.search(key) and isinstance(value, str | int | float):
            assert INTERPOLATION_RE.match(str(value)), (
                f"{key} has a literal value in docker-compose.yml; use an env file or ${{VAR:?}}"
            )
    for name, service in _services(raw).items():
        env_file = service.get("env_file")
        for path in [env_file] if isinstance(env_file, str) else env_file or []:
            default = re.sub(r"^\$\{[A-Za-z_]\w*:?-([^}]*)\}$", r"\1", path)
            assert (REPO_ROOT / default).is_file(), f"{name}: env file {default} does not exist"


def _prometheus_config(resolved: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """The configuration file the compose Prometheus loads, read from the repository."""
    prometheus = _services(resolved)["prometheus"]
    ((source, target, _),) = [v for v in _volumes(prometheus) if _is_bind(v[0])]
    (flag,) = [a for a in prometheus["command"] if a.startswith("--config.file=")]
    inside = Path(flag.split("=", 1)[1])
    path = (REPO_ROOT / source).resolve() / inside.relative_to(target)
    assert path.parent == PROMETHEUS_DIR, f"the compose Prometheus loads {path}"
    return _load_mapping(path.read_text()), path


def test_prometheus_is_published_on_its_settings_port(resolved: dict[str, Any]) -> None:
    prometheus = _services(resolved)["prometheus"]
    port = _default(PrometheusSettings, "port")
    assert _published(prometheus).get(port) == port
    assert f"--web.listen-address=:{port}" in prometheus["command"]
    assert prometheus["image"].startswith("prom/prometheus:")


def test_prometheus_scrapes_every_service_under_the_local_stacks_job_names(
    resolved: dict[str, Any],
) -> None:
    config, _ = _prometheus_config(resolved)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    local = {
        job["job_name"] for job in json.loads(scrape_config(CommonSettings()))["scrape_configs"]
    }
    assert set(jobs) == local, "the compose jobs and the local stack's differ"
    services = _services(resolved)
    with_metrics = {n for n in services if n in METRICS}
    assert with_metrics == set(METRICS), f"no compose service {sorted(set(METRICS) - with_metrics)}"
    for name, (model, host_field, port_field, job) in METRICS.items():
        env = _environment(services[name])
        assert env.get(_env_name(model, host_field)) == "0.0.0.0", (
            f"{name}: /metrics must bind every interface ({_env_name(model, host_field)})"
        )
        port = int(env.get(_env_name(model, port_field), _default(model, port_field)))
        targets = [(sd["port"], sd["names"]) for sd in jobs[job].get("dns_sd_configs", [])]
        assert any(p == port and name in names for p, names in targets), (
            f"job {job} does not scrape {name}:{port}"
        )
    minio = _environment(services["minio"])
    assert minio.get("MINIO_PROMETHEUS_AUTH_TYPE") == "public", "MinIO's metrics need a token"
    assert jobs["minio"]["static_configs"][0]["targets"] == [
        f"minio:{_default(S3Settings, 'port')}"
    ]


def test_prometheus_loads_the_project_rules(resolved: dict[str, Any]) -> None:
    config, path = _prometheus_config(resolved)
    assert [path.parent / f for f in config["rule_files"]] == [PROMETHEUS_DIR / "rules.yml"]
    promtool = PROMTOOL.path(CommonSettings().paths.cache_dir)
    assert promtool.exists(), f"{promtool} is missing: run `clearcut stack install --test-tools`"
    done = subprocess.run(
        [str(promtool), "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
