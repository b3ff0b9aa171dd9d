"""What each overlay of deploy/k8s renders is valid against the Kubernetes API's schemas and
the CRDs' (KEDA's ScaledObject, the Prometheus Operator's PodMonitor and PrometheusRule),
offline: the schemas are the npm packages of `kubernetes-models`, installed into the cache by
`clearcut stack install --test-tools`. And a broken copy is refused, so the check can fail."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import CommonSettings
from services.devstack.k8s_schemas import validate
from services.ops.rules import rule_groups
from tests.unit.test_k8s_manifests import K8S_DIR, OVERLAYS, kustomize_build

CACHE = CommonSettings().paths.cache_dir
# Kinds that must be checked against a schema of their own, not skipped as unknown.
CRD_KINDS = {"ScaledObject", "PodMonitor", "PrometheusRule"}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_rendered_object_is_valid_against_its_schema(overlay: str) -> None:
    docs = kustomize_build(OVERLAYS[overlay])
    assert validate(docs, CACHE) == []


def test_the_crds_are_rendered_and_checked() -> None:
    kinds = {doc["kind"] for overlay in OVERLAYS.values() for doc in kustomize_build(overlay)}
    assert kinds >= CRD_KINDS


def _broken_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, copy)
    return copy


def test_a_broken_copy_fails_the_validation(tmp_path: Path) -> None:
    copy = _broken_copy(tmp_path)
    upload = copy / "base" / "upload.yaml"
    upload.write_text(upload.read_text().replace("replicas: 2", 'replicas: "two"', 1))
    scaled = copy / "base" / "processor-scaledobject.yaml"
    scaled.write_text(scaled.read_text().replace('lagThreshold: "20"', "lagThreshold: 20"))
    rule = copy / "monitoring" / "prometheusrule.yaml"
    rule.write_text(rule.read_text().replace("    interval: 15s", "    interval: soon", 1))

    errors = validate(kustomize_build(copy / "monitoring"), CACHE)

    assert any("Deployment clearcut-upload" in e and "replicas" in e for e in errors), errors
    assert any("ScaledObject clearcut-processor" in e and "lagThreshold" in e for e in errors)
    assert any("PrometheusRule clearcut" in e and "interval" in e for e in errors), errors
    assert len(errors) == 3, errors


def test_an_object_of_an_unknown_kind_is_refused() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validate([unknown], CACHE) == ["Widget w: no schema for example.com/v1 Widget"]


def _pods(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"] for d in docs if d["kind"] == "Deployment"]


def test_the_pod_monitor_scrapes_every_service_with_its_job_name() -> None:
    docs = kustomize_build(OVERLAYS["monitoring"])
    (monitor,) = [d for d in docs if d["kind"] == "PodMonitor"]
    spec = monitor["spec"]
    ports = {e["port"] for e in spec["podMetricsEndpoints"]}
    selected = [
        pod
        for pod in _pods(docs)
        if spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        and pod["metadata"]["labels"]["app.kubernetes.io/component"]
        in spec["selector"]["matchExpressions"][0]["values"]
    ]
    scraped = set()
    for pod in selected:
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = pod["spec"]["containers"]
        names = {p["name"] for p in container.get("ports", [])}
        assert names & ports, f"{component}: no container port the PodMonitor scrapes"
        scraped.add(component)
    assert scraped == {"upload", "notifier", "processor", "projector"}
    for endpoint in spec["podMetricsEndpoints"]:
        (relabel,) = endpoint["relabelings"]
        assert relabel["targetLabel"] == "job" and relabel["replacement"] == "clearcut-$1"
        assert relabel["sourceLabels"] == [
            "__meta_kubernetes_pod_label_app_kubernetes_io_component"
        ]
    # The alert on scrape failures selects exactly these job names.
    alerts = {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}
    assert 'job=~"clearcut-.*"' in alerts["ClearcutServiceDown"]["expr"]


def test_the_monitoring_overlay_adds_only_monitoring() -> None:
    base = kustomize_build(OVERLAYS["default"])
    monitoring = kustomize_build(OVERLAYS["monitoring"])
    added = [d for d in monitoring if d not in base]
    assert sorted(d["kind"] for d in added) == ["PodMonitor", "PrometheusRule"]
    assert {d["metadata"]["namespace"] for d in added} == {
        yaml.safe_load((K8S_DIR / "base" / "kustomization.yaml").read_text())["namespace"]
    }
