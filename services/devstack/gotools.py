"""Servers built from source with Go at a pinned version, cached per machine.

The Go module proxy these machines reach serves only some versions of these modules, so the
pins below are the newest versions it serves (see README, "What the stack installs").
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from services.devstack.process import StackError, heartbeat, run


@dataclass(frozen=True)
class GoTool:
    name: str
    module: str
    version: str
    main_package: str  # path of the main package inside the module ("." for the root)
    binary: str
    first_build: str  # rough duration of a cold build, shown before it starts
    # A module whose go.mod has `replace` directives cannot be `go install`ed at a version;
    # it is built from the downloaded module source instead, where those directives apply.
    build_in_module: bool = False

    def path(self, cache_dir: Path) -> Path:
        return cache_dir / "tools" / f"{self.name}-{self.version}" / self.binary

    def ensure(self, cache_dir: Path, log: Path) -> Path:
        """Return the binary, building it first when this machine has none yet."""
        target = self.path(cache_dir)
        if target.exists():
            return target
        go = shutil.which("go")
        if go is None:
            raise StackError(f"{self.name}: building it needs Go (>= 1.24); install Go, retry.")
        print(
            f"Building {self.name} {self.version} from source with Go. First build on this "
            f"machine: {self.first_build}; later runs reuse it. Build log: {log}",
            flush=True,
        )
        started = time.monotonic()
        staging = target.parent.with_name(target.parent.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        env = {"CGO_ENABLED": "0", "GOFLAGS": "-trimpath -buildvcs=false"}
        with heartbeat(f"building {self.name}"):
            if self.build_in_module:
                self._build_from_module_source(go, staging, env, log)
            else:
                pkg = self.module
                if self.main_package != ".":
                    pkg = f"{self.module}/{self.main_package}"
                run(
                    [go, "install", f"{pkg}@{self.version}"],
                    what=f"building {self.name}",
                    env={**env, "GOBIN": str(staging)},
                    cwd=staging,
                    log=log,
                )
        # Move into place only once complete: an interrupted build is never mistaken for one.
        if target.parent.exists():
            shutil.rmtree(target.parent)
        os.replace(staging, target.parent)
        print(f"Built {self.name} in {time.monotonic() - started:.0f} s.", flush=True)
        return target

    def _build_from_module_source(
        self, go: str, staging: Path, env: dict[str, str], log: Path
    ) -> None:
        info = json.loads(
            run(
                [go, "mod", "download", "-json", f"{self.module}@{self.version}"],
                what=f"downloading {self.name} source",
                cwd=staging,
                log=log,
            )
        )
        src = staging / "src"
        shutil.copytree(info["Dir"], src)
        for path in src.rglob("*"):  # the module cache is read-only
            path.chmod(path.stat().st_mode | 0o200)
        run(
            [go, "build", "-o", str(staging / self.binary), f"./{self.main_package}"],
            what=f"building {self.name}",
            env=env,
            cwd=src,
            log=log,
        )
        shutil.rmtree(src)


MINIO = GoTool(
    name="minio",
    module="github.com/minio/minio",
    # master after RELEASE.2025-10-15T17-29-55Z (a few small fixes and docs on top of it)
    version="v0.0.0-20260212201848-7aac2a2c5b7c",
    main_package=".",
    binary="minio",
    first_build="about 5-10 minutes",
)

JAEGER = GoTool(
    name="jaeger",
    module="github.com/jaegertracing/jaeger",
    version="v1.76.0",  # the v2.13.0 release; module tags keep the v1 line
    main_package="cmd/jaeger",
    binary="jaeger",
    first_build="about 10-15 minutes",
    build_in_module=True,
)

# Prometheus 3.x: module tags are v0.3xx for the v3.x releases. Built without the
# `builtinassets` tag, so the web UI pages are absent; the HTTP API is complete.
PROMETHEUS = GoTool(
    name="prometheus",
    module="github.com/prometheus/prometheus",
    version="v0.316.0",
    main_package="cmd/prometheus",
    binary="prometheus",
    first_build="about 10-20 minutes",
)

PROMTOOL = GoTool(
    name="promtool",
    module="github.com/prometheus/prometheus",
    version="v0.316.0",
    main_package="cmd/promtool",
    binary="promtool",
    first_build="a few minutes once Prometheus is built",
)

# kustomize builds each deploy/k8s overlay in the test suite, so that what is validated there
# is what `kubectl apply -k` would send.
KUSTOMIZE = GoTool(
    name="kustomize",
    module="sigs.k8s.io/kustomize/kustomize/v5",
    version="v5.8.2",
    main_package=".",
    binary="kustomize",
    first_build="about 10 s with a warm Go build cache, longer on a cold one",
)
