"""The recording and alerting rules of deploy/prometheus/rules.yml, and the same rules as a
Prometheus Operator ``PrometheusRule`` for Kubernetes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.common.settings import REPO_ROOT

RULES_FILE = REPO_ROOT / "deploy" / "prometheus" / "rules.yml"
PROMETHEUS_RULE_FILE = REPO_ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule.yaml"
LABELS = {
    "app.kubernetes.io/name": "clearcut",
    "app.kubernetes.io/part-of": "clearcut",
    "app.kubernetes.io/component": "monitoring",
}


def rule_groups(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text())["groups"]
    return groups


def recorded_names(path: Path = RULES_FILE) -> set[str]:
    """The series the recording rules produce."""
    return {
        rule["record"] for group in rule_groups(path) for rule in group["rules"] if "record" in rule
    }


class _Literal(str):
    """A multi-line expression, written as a YAML block."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def _blocks(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _blocks(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_blocks(v) for v in node]
    if isinstance(node, str) and "\n" in node:
        return _Literal(node)
    return node


def prometheus_rule(groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "clearcut", "labels": dict(LABELS)},
        "spec": {"groups": groups},
    }


def render_prometheus_rule(path: Path = RULES_FILE) -> str:
    header = (
        "# Generated from deploy/prometheus/rules.yml by `clearcut docs monitoring --write`;\n"
        "# do not edit (tests/unit/test_monitoring.py checks that the two agree).\n"
    )
    body = yaml.dump(
        _blocks(prometheus_rule(rule_groups(path))),
        Dumper=_Dumper,
        sort_keys=False,
        width=100,
        allow_unicode=True,
    )
    return header + body
