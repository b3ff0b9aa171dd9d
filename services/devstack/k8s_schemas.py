"""The Kubernetes and CRD (KEDA, Prometheus Operator) schemas, offline: the npm packages of
`kubernetes-models`, installed once per machine into the cache by
`clearcut stack install --test-tools`, and a small Node script that validates documents with
them (``k8s_validate.mjs`` beside this file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from services.devstack.process import StackError, run

# Each package ships the JSON Schemas of its API group(s) compiled into validators.
PACKAGES = {
    "kubernetes-models": "5.1.0",  # the built-in kinds
    "@kubernetes-models/keda": "2.0.0",  # ScaledObject
    "@kubernetes-models/prometheus-operator": "6.0.0",  # PodMonitor, PrometheusRule
}
SCRIPT = Path(__file__).with_name("k8s_validate.mjs")


def _install_dir(cache_dir: Path) -> Path:
    tag = "-".join(f"{name.rsplit('/', 1)[-1]}{version}" for name, version in PACKAGES.items())
    return cache_dir / "tools" / f"k8s-schemas-{tag}"


def schemas_path(cache_dir: Path) -> Path:
    """The folder whose ``node_modules`` holds the packages (present once installed)."""
    return _install_dir(cache_dir)


def ensure_schemas(cache_dir: Path, log: Path) -> Path:
    """Install the packages into the cache unless they are there already."""
    target = _install_dir(cache_dir)
    if (target / "node_modules").is_dir():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise StackError(
            "the Kubernetes schemas are npm packages: install npm (apt-get install npm)"
        )
    print(f"Installing the Kubernetes schemas (npm: {', '.join(PACKAGES)}).", flush=True)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "package.json").write_text('{"private": true}\n')
    run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
            *(f"{name}@{version}" for name, version in PACKAGES.items()),
        ],
        what="installing the Kubernetes schemas",
        cwd=staging,
        log=log,
    )
    # Move into place only once complete: an interrupted install is never mistaken for one.
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def validate(docs: list[dict[str, Any]], cache_dir: Path) -> list[str]:
    """One message per schema violation (or kind without a schema) in ``docs``; [] if none."""
    modules = schemas_path(cache_dir) / "node_modules"
    if not modules.is_dir():
        raise StackError(f"{modules} is missing: run `clearcut stack install --test-tools`")
    node = shutil.which("node")
    if node is None:
        raise StackError("validating Kubernetes manifests needs Node.js (apt-get install nodejs)")
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(modules)},
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"the schema validator failed: {done.stderr.strip()}")
    errors: list[str] = json.loads(done.stdout)
    return errors
