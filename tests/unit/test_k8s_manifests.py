"""deploy/k8s agrees with the settings, with docker-compose.yml and with itself.

No cluster is needed: each overlay (deploy/k8s, deploy/k8s/monitoring) is built with
kustomize, as `kubectl apply -k` would, and what it renders is compared with the settings
classes (names and defaults), the compose file (images and commands), the services'
readiness paths and the Dockerfiles (the unprivileged user). The schemas themselves are
checked in test_k8s_schemas.py.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from services.cli.settings_doc import settings_classes
from services.common.settings import REPO_ROOT, CommonSettings, PathSettings, TopicNames
from services.devstack.gotools import KUSTOMIZE
from services.notifier.settings import NotifierSettings
from services.processor.settings import ProcessorSettings
from services.run.processes import service_specs
from services.upload.settings import UploadSettings
from services.webhooks.settings import WebhooksSettings

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
BASE_DIR = K8S_DIR / "base"
# Every kustomization that is applied as it stands: `kubectl apply -k <folder>`.
OVERLAYS = {"default": K8S_DIR, "monitoring": K8S_DIR / "monitoring"}
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKER_DIR = REPO_ROOT / "deploy" / "docker"
KUSTOMIZATION = "kustomization.yaml"
WORKLOAD_KINDS = ("Deployment", "Job")
# Every workload's component label, which is also the compose service it runs.
COMPONENTS = ("init", "upload", "projector", "processor", "notifier", "webhooks")
# Components that serve HTTP (health, readiness, metrics): settings class, bind and port field.
HTTP_COMPONENTS: dict[str, tuple[type[BaseSettings], str, str]] = {
    "upload": (UploadSettings, "host", "port"),
    "notifier": (NotifierSettings, "host", "port"),
    "processor": (ProcessorSettings, "web_host", "web_port"),
    "webhooks": (WebhooksSettings, "host", "port"),
}
# Components that serve only /metrics (no health endpoints, so no probes).
METRICS_COMPONENTS: dict[str, tuple[type[BaseSettings], str, str]] = {
    "projector": (UploadSettings, "host", "projector_metrics_port"),
}
# Replica counts of the Deployments that KEDA does not scale.
REPLICAS = {"upload": 2, "notifier": 2, "projector": 1, "webhooks": 2}
MIN_KAFKA_VERSION = (2, 1, 0)
GPU = "nvidia.com/gpu"
UID = r"useradd [^\n]*--uid (\d+)"


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.doc.get("metadata", {}).get("name", ""))

    @property
    def component(self) -> str:
        labels = self.doc.get("metadata", {}).get("labels", {})
        return str(labels.get("app.kubernetes.io/component", ""))

    @property
    def pod(self) -> dict[str, Any]:
        """The pod template of a Deployment or Job: labels, annotations and spec."""
        template: dict[str, Any] = self.doc["spec"]["template"]
        return template


@dataclass(frozen=True)
class Container:
    component: str
    spec: dict[str, Any]
    env: dict[str, dict[str, Any]]  # name -> {"value": ...} or {"valueFrom": ...}

    def value(self, name: str) -> str | None:
        entry = self.env.get(name, {})
        return None if "value" not in entry else str(entry["value"])

    def port(self, port: int | str) -> int:
        """A probe's or a Service's port: a number, or the name of a container port."""
        if isinstance(port, int):
            return port
        named = {p.get("name"): p["containerPort"] for p in self.spec.get("ports", [])}
        assert port in named, f"{self.component}: no container port named {port!r}"
        return int(named[port])


def _load(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in docs:
        assert isinstance(doc, dict), f"{path.name}: a document is not a mapping"
        for key in ("apiVersion", "kind"):
            assert doc.get(key), f"{path.name}: a document has no {key}"
    return docs


def kustomize_build(folder: Path) -> list[dict[str, Any]]:
    """What `kustomize build folder` renders (kustomize: `clearcut stack install --test-tools`)."""
    binary = KUSTOMIZE.path(CommonSettings().paths.cache_dir)
    assert binary.exists(), f"{binary} is missing: run `clearcut stack install --test-tools`"
    done = subprocess.run(
        [str(binary), "build", str(folder)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"kustomize build {folder} failed:\n{done.stderr}"
    docs = [d for d in yaml.safe_load_all(done.stdout) if d is not None]
    for doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), doc
    return docs


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    (doc,) = _load(BASE_DIR / KUSTOMIZATION)
    return doc


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    overlay: str = request.param
    found = [Manifest(overlay, doc) for doc in kustomize_build(OVERLAYS[overlay])]
    assert found, f"kustomize build {OVERLAYS[overlay]} rendered nothing"
    for manifest in found:
        assert manifest.name, f"{manifest.file}: a {manifest.kind} has no metadata.name"
    return found


def _of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def _one(manifests: list[Manifest], kind: str, component: str) -> Manifest:
    found = [m for m in _of_kind(manifests, kind) if m.component == component]
    assert len(found) == 1, f"expected one {kind} of {component}, found {len(found)}"
    return found[0]


def _config(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = {}
    for configmap in _of_kind(manifests, "ConfigMap"):
        data.update({k: str(v) for k, v in (configmap.doc.get("data") or {}).items()})
    return data


@pytest.fixture(scope="module")
def containers(manifests: list[Manifest]) -> list[Container]:
    """Every container of every workload, with the environment it gets from ConfigMaps."""
    configmaps = {m.name: m.doc.get("data") or {} for m in _of_kind(manifests, "ConfigMap")}
    found: list[Container] = []
    for workload in [m for m in manifests if m.kind in WORKLOAD_KINDS]:
        assert workload.component, f"{workload.name} has no component label"
        pod = workload.pod["spec"]
        for spec in pod.get("initContainers", []) + pod["containers"]:
            env: dict[str, dict[str, Any]] = {}
            for source in spec.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                assert ref in configmaps, f"{workload.name} loads unknown ConfigMap {ref}"
                env.update({k: {"value": v} for k, v in configmaps[ref].items()})
            for entry in spec.get("env", []):
                env[entry["name"]] = {k: v for k, v in entry.items() if k != "name"}
            found.append(Container(workload.component, spec, env))
    return found


def _env_name(model: type[BaseSettings], field: str) -> str:
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def _default(model: type[BaseSettings], field: str) -> Any:
    return model.model_fields[field].get_default(call_default_factory=True)


def _settings_fields() -> dict[str, tuple[type[BaseSettings], str]]:
    """Env variable name -> (settings class, field) of every settings field."""
    return {
        _env_name(model, field): (model, field)
        for model in settings_classes()
        for field in model.model_fields
    }


def _compose_services() -> dict[str, dict[str, Any]]:
    """The compose services, `${VAR:-default}` resolved to its default."""
    text = re.sub(r"\$\{[A-Za-z_]\w*:?-([^}]*)\}", r"\1", COMPOSE_FILE.read_text())
    services: dict[str, dict[str, Any]] = yaml.safe_load(text)["services"]
    return services


def _version(text: str) -> tuple[int, ...]:
    assert re.fullmatch(r"\d+\.\d+\.\d+", text), f"{text!r} is not a Kafka version x.y.z"
    return tuple(int(part) for part in text.split("."))


def test_kustomization_lists_every_manifest(kustomization: dict[str, Any]) -> None:
    files = {p.name for p in BASE_DIR.glob("*.yaml")} - {KUSTOMIZATION}
    listed = kustomization.get("resources") or []
    assert len(listed) == len(set(listed)), f"resources listed twice: {listed}"
    assert set(listed) == files, (
        f"not listed: {sorted(files - set(listed))}; missing: {sorted(set(listed) - files)}"
    )


def test_environment_names_are_settings_fields(
    manifests: list[Manifest], containers: list[Container]
) -> None:
    names = set(_config(manifests)) | {name for c in containers for name in c.env}
    ours = {name for name in names if name.startswith("CLEARCUT_")}
    assert ours, "no CLEARCUT_ variable in any ConfigMap or container"
    unknown = ours - set(_settings_fields())
    assert not unknown, f"not the name of any settings field: {sorted(unknown)}"


@pytest.mark.parametrize("component", sorted(HTTP_COMPONENTS))
def test_http_ports_and_probes_agree_with_the_settings(
    manifests: list[Manifest], containers: list[Container], component: str
) -> None:
    model, host_field, port_field = HTTP_COMPONENTS[component]
    port = _default(model, port_field)
    (container,) = [c for c in containers if c.component == component]
    declared = [p["containerPort"] for p in container.spec.get("ports", [])]
    assert declared == [port], f"{component} listens on {port} ({model.__name__}.{port_field})"
    configured = container.value(_env_name(model, port_field))
    assert configured in (None, str(port)), f"{component}: port set to {configured}, not {port}"
    assert container.value(_env_name(model, host_field)) == "0.0.0.0", (
        f"{component} must bind every interface for probes and Services to reach it"
    )
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        probe = container.spec.get(kind, {}).get("httpGet", {})
        assert probe.get("path") == path, f"{component}: {kind} must GET {path}"
        assert container.port(probe["port"]) == port, f"{component}: {kind} port is not {port}"
    startup = container.spec.get("startupProbe", {}).get("httpGet")
    if startup is not None:
        assert container.port(startup["port"]) == port, f"{component}: startupProbe port"
    annotations = _one(manifests, "Deployment", component).pod["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/port") == str(port), f"{component}: scrape port"
    # The readiness path is the one `clearcut up` waits on for this service.
    (spec,) = [s for s in service_specs() if s.name == component]
    assert container.spec["readinessProbe"]["httpGet"]["path"] == spec.ready_path


@pytest.mark.parametrize("component", sorted(METRICS_COMPONENTS))
def test_metrics_ports_agree_with_the_settings(
    manifests: list[Manifest], containers: list[Container], component: str
) -> None:
    model, host_field, port_field = METRICS_COMPONENTS[component]
    port = _default(model, port_field)
    (container,) = [c for c in containers if c.component == component]
    assert [p["containerPort"] for p in container.spec["ports"]] == [port], component
    assert container.value(_env_name(model, port_field)) in (None, str(port)), component
    assert container.value(_env_name(model, host_field)) == "0.0.0.0", (
        f"{component} must bind every interface for Prometheus to reach /metrics"
    )
    annotations = _one(manifests, "Deployment", component).pod["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/port") == str(port), f"{component}: scrape port"


def test_services_reach_their_deployments(
    manifests: list[Manifest], containers: list[Container]
) -> None:
    services = _of_kind(manifests, "Service")
    assert {s.component for s in services} == {"upload", "notifier"}
    for service in services:
        model, _, port_field = HTTP_COMPONENTS[service.component]
        port = _default(model, port_field)
        (container,) = [c for c in containers if c.component == service.component]
        pod_labels = _one(manifests, "Deployment", service.component).pod["metadata"]["labels"]
        assert service.doc["spec"]["selector"].items() <= pod_labels.items(), (
            f"Service {service.name} selects no pod of its Deployment"
        )
        (spec,) = service.doc["spec"]["ports"]
        assert spec["port"] == port, f"Service {service.name} must serve port {port}"
        assert container.port(spec.get("targetPort", spec["port"])) == port


def test_replicas_and_selectors(manifests: list[Manifest]) -> None:
    for deployment in _of_kind(manifests, "Deployment"):
        spec = deployment.doc["spec"]
        selector = spec["selector"]["matchLabels"]
        assert selector.items() <= spec["template"]["metadata"]["labels"].items(), (
            f"{deployment.name}: the selector does not match its own pods"
        )
        if deployment.component in REPLICAS:
            assert spec.get("replicas") == REPLICAS[deployment.component], deployment.name
        else:
            assert "replicas" not in spec, f"{deployment.name} is scaled by KEDA: no replicas"
    assert set(REPLICAS) | {"processor"} == {d.component for d in _of_kind(manifests, "Deployment")}
    for budget in _of_kind(manifests, "PodDisruptionBudget"):
        labels = _one(manifests, "Deployment", budget.component).pod["metadata"]["labels"]
        assert budget.doc["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_images_and_commands_are_those_of_docker_compose(
    kustomization: dict[str, Any], containers: list[Container]
) -> None:
    compose = _compose_services()
    assert {c.component for c in containers} == set(COMPONENTS)
    for container in containers:
        service = compose[container.component]
        assert container.spec["image"] == service["image"], (
            f"{container.component} runs {container.spec['image']}, compose {service['image']}"
        )
        assert container.spec.get("command") == service["command"], container.component
    images = {c.spec["image"].rsplit(":", 1)[0] for c in containers}
    assert {i["name"] for i in kustomization.get("images", [])} == images


def test_every_container_has_resources_and_http_ones_have_probes(
    containers: list[Container],
) -> None:
    for container in containers:
        resources = container.spec.get("resources", {})
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resources.get(bound, {}).get(resource), (
                    f"{container.component}: no {resource} in resources.{bound}"
                )
        has_ports = bool(container.spec.get("ports"))
        serves_http = container.component in HTTP_COMPONENTS
        assert has_ports == (serves_http or container.component in METRICS_COMPONENTS), (
            container.component
        )
        for probe in ("livenessProbe", "readinessProbe"):
            assert (probe in container.spec) == serves_http, f"{container.component}: {probe}"


def test_processor_runs_on_gpu_nodes(manifests: list[Manifest]) -> None:
    pod = _one(manifests, "Deployment", "processor").pod["spec"]
    (container,) = pod["containers"]
    assert int(container["resources"]["limits"][GPU]) == 1, "one GPU per processor"
    assert int(container["resources"]["requests"].get(GPU, 0)) == 1, "requests one GPU too"
    assert pod.get("nodeSelector"), "the processor must be placed on GPU nodes"
    assert any(t.get("key") == GPU for t in pod.get("tolerations", [])), "GPU taint toleration"
    grace = _default(ProcessorSettings, "shutdown_grace_s")
    assert pod["terminationGracePeriodSeconds"] > grace, "shutdown must outlast the batch"


def test_scaled_object_scales_the_processor_on_uploaded_lag(
    manifests: list[Manifest], containers: list[Container], kustomization: dict[str, Any]
) -> None:
    (scaled,) = _of_kind(manifests, "ScaledObject")
    spec = scaled.doc["spec"]
    target = _one(manifests, "Deployment", "processor")
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert spec["scaleTargetRef"]["name"] == target.name

    config = _config(manifests)
    topic_env = {
        field: config[_env_name(TopicNames, field)]
        for field in TopicNames.model_fields
        if _env_name(TopicNames, field) in config
    }
    topics = TopicNames.model_validate(topic_env)
    partitions = TopicNames().partitions
    assert spec["maxReplicaCount"] == partitions == topics.partitions, (
        f"maxReplicaCount must be the partition count of {topics.uploaded} ({partitions})"
    )
    assert 1 <= spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"]

    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["topic"] == topics.uploaded == TopicNames().uploaded
    assert _version(meta["version"]) >= MIN_KAFKA_VERSION, "Kafka 4 needs version >= 2.1.0"
    assert meta.get("allowIdleConsumers", "false") == "false"

    (processor,) = [c for c in containers if c.component == "processor"]
    app_id = processor.value(_env_name(ProcessorSettings, "app_id"))
    assert meta["consumerGroup"] == (app_id or _default(ProcessorSettings, "app_id")), (
        "consumerGroup must be the processor's consumer group"
    )
    host, port = str(meta["bootstrapServers"]).rsplit(":", 1)
    service, namespace, *_ = [*host.split("."), "", ""]
    assert service == config["CLEARCUT_KAFKA_HOST"] and port == config["CLEARCUT_KAFKA_PORT"]
    assert namespace == kustomization["namespace"], (
        "KEDA resolves bootstrapServers from its own namespace: name the Service's namespace"
    )


def test_pods_run_unprivileged_on_read_only_filesystems(
    manifests: list[Manifest], containers: list[Container]
) -> None:
    (uid,) = {
        int(u) for f in DOCKER_DIR.glob("*.Dockerfile") for u in re.findall(UID, f.read_text())
    }
    for workload in [m for m in manifests if m.kind in WORKLOAD_KINDS]:
        pod = workload.pod["spec"]
        security = pod.get("securityContext", {})
        assert security.get("runAsNonRoot") is True, f"{workload.name}: runAsNonRoot"
        assert security.get("runAsUser") == uid, f"{workload.name}: run as the image's user"
        assert pod.get("automountServiceAccountToken") is False, workload.name
    home = _env_name(PathSettings, "home")
    for container in containers:
        security = container.spec.get("securityContext", {})
        assert security.get("readOnlyRootFilesystem") is True, container.component
        assert security.get("allowPrivilegeEscalation") is False, container.component
        assert security.get("capabilities", {}).get("drop") == ["ALL"], container.component
        mounted = {m["mountPath"] for m in container.spec.get("volumeMounts", [])}
        needed = {"/tmp", container.value(home)}
        if container.component == "processor":
            cache = container.value(_env_name(PathSettings, "model_cache"))
            needed.add(next((m for m in mounted if f"{cache}/".startswith(f"{m}/")), cache))
        assert needed <= mounted, f"{container.component}: mount a volume at {needed - mounted}"


def test_no_secret_in_plain_text(manifests: list[Manifest], containers: list[Container]) -> None:
    fields = _settings_fields()
    secret_defaults = {
        value.get_secret_value()
        for model, field in fields.values()
        if isinstance(value := _default(model, field), SecretStr) and value.get_secret_value()
    }
    assert not _of_kind(manifests, "Secret"), "reference the Secret, never ship one"
    text = "\n".join(p.read_text() for p in K8S_DIR.rglob("*.yaml"))
    for secret in secret_defaults:
        assert secret not in text, "a development credential is written in deploy/k8s"
    readme = (K8S_DIR / "README.md").read_text()
    references = 0
    for container in containers:
        for name, entry in container.env.items():
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                references += 1
                assert f"`{ref['name']}`" in readme and f"`{ref['key']}`" in readme, (
                    f"deploy/k8s/README.md must document {ref['key']} of the Secret {ref['name']}"
                )
            elif name in fields and isinstance(_default(*fields[name]), SecretStr):
                assert entry.get("value") == "", f"{container.component}: {name} in plain text"
    assert references, "no credential is read from a Secret"
