"""Debian packages the local stack needs, installed when missing."""

from __future__ import annotations

import os
import shutil

from services.common.settings import REPO_ROOT
from services.devstack.process import StackError, run

DEPLOY_DIR = REPO_ROOT / "deploy"
# docker-compose validates docker-compose.yml without a Docker engine (compose v1 needs no
# daemon for this). Chromium: the browser checks of the offline /docs page and of the web
# page (driven by Playwright, dev extra; no browser is downloaded). Node.js and npm: the
# Kubernetes schemas that deploy/k8s is validated against are npm packages.
TEST_TOOLS = {
    "docker-compose": "docker-compose",
    "chromium": "chromium",
    "node": "nodejs",
    "npm": "npm",
}


def ensure_debian_packages(packages: dict[str, str]) -> None:
    """``packages`` maps a command that must exist to the Debian package providing it."""
    missing = sorted({pkg for cmd, pkg in packages.items() if not _have(cmd)})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            f"missing Debian packages: {' '.join(missing)}. "
            f"Install them with: sudo apt-get install -y {' '.join(missing)}"
        )
    print(f"Installing Debian packages: {' '.join(missing)} (about a minute).", flush=True)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], what="apt-get update", env=env)
    run(["apt-get", "install", "-y", "-q", *missing], what="apt-get install", env=env)


def _have(cmd: str) -> bool:
    if cmd.startswith("/"):
        return os.path.exists(cmd)
    return shutil.which(cmd) is not None
