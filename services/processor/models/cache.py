"""The model cache: verified model files on local disk, fetched once, shared by workers.

Layout: ``<cache>/<name>/<version>/model.onnx`` beside ``model.json`` (name, version, sha256,
size, source, fetched_at). A fetch writes a temporary file in the same directory while
hashing it, checks size and sha256, and only then renames it into place, so a reader never
sees a partial or unverified file. An exclusive lock on ``<cache>/<name>/<version>/.lock``
keeps two processes from fetching the same model at once; the second one finds the file
installed when it gets the lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from services.processor.models.registry import ModelSpec, ResolvedSource
from services.processor.models.sources import FetchContext, SourceUnavailable, fetch

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
METADATA_FILE = "model.json"
_CHUNK = 1 << 20


class ModelCacheError(Exception):
    """A model cannot be made available in the cache."""

    retriable = False


class ChecksumMismatch(ModelCacheError):
    """A source delivered a file other than the registry's: nothing was installed."""

    def __init__(self, spec: ModelSpec, source: str, sha256: str, size: int) -> None:
        super().__init__(
            f"{spec.name} {spec.version}: the file from {source} has sha256 {sha256} "
            f"({size} bytes), the registry expects {spec.sha256} ({spec.size} bytes); "
            "nothing was installed"
        )
        self.source = source
        self.sha256 = sha256


class ModelUnavailable(ModelCacheError):
    """No source had the file (or none was reachable): a later try may succeed."""

    retriable = True

    def __init__(self, spec: ModelSpec, reasons: list[str]) -> None:
        detail = "; ".join(reasons) or "no source is configured"
        super().__init__(f"{spec.name} {spec.version}: no source could provide it: {detail}")
        self.reasons = reasons


class CacheLockTimeout(ModelCacheError):
    retriable = True


class CacheState(StrEnum):
    VERIFIED = "verified"
    MISSING = "missing"
    CORRUPT = "corrupt"


@dataclass(frozen=True)
class CachedModel:
    spec: ModelSpec
    path: Path
    metadata: dict[str, Any]


class _HashingWriter:
    """A file wrapper that hashes and counts what passes through it."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        written: int = self._target.write(data)
        return written

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelCache:
    def __init__(
        self,
        root: Path,
        placeholders: dict[str, str],
        context: FetchContext,
        *,
        lock_timeout_s: float = 1800.0,
    ) -> None:
        self.root = root
        self._placeholders = placeholders
        self._context = context
        self._lock_timeout_s = lock_timeout_s

    def directory(self, spec: ModelSpec) -> Path:
        return self.root / spec.name / spec.version

    def path(self, spec: ModelSpec) -> Path:
        return self.directory(spec) / MODEL_FILE

    def sources(self, spec: ModelSpec) -> list[ResolvedSource]:
        """The configured sources of ``spec``, in order of preference."""
        resolved = (source.resolve(self._placeholders) for source in spec.sources)
        return [source for source in resolved if source is not None]

    def metadata(self, spec: ModelSpec) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory(spec) / METADATA_FILE).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def quick_state(self, spec: ModelSpec) -> CacheState:
        """Present with the right size and metadata naming the right sha256 (no hashing)."""
        path = self.path(spec)
        if not path.exists():
            return CacheState.MISSING
        metadata = self.metadata(spec) or {}
        if path.stat().st_size != spec.size or metadata.get("sha256") != spec.sha256:
            return CacheState.CORRUPT
        return CacheState.VERIFIED

    def verify(self, spec: ModelSpec) -> CacheState:
        """Hash the cached file and compare it with the registry."""
        path = self.path(spec)
        if not path.exists():
            return CacheState.MISSING
        if path.stat().st_size != spec.size or sha256_of(path) != spec.sha256:
            return CacheState.CORRUPT
        return CacheState.VERIFIED

    def ensure(self, spec: ModelSpec) -> CachedModel:
        """The verified model: re-hashed if cached, fetched if missing or corrupt."""
        state = self.verify(spec)
        if state is CacheState.VERIFIED:
            return self._cached(spec)
        if state is CacheState.CORRUPT:
            logger.warning(
                "cached %s %s at %s does not match its sha256; fetching it again",
                spec.name,
                spec.version,
                self.path(spec),
            )
        return self.pull(spec, force=state is CacheState.CORRUPT)

    def pull(
        self, spec: ModelSpec, *, source: ResolvedSource | None = None, force: bool = False
    ) -> CachedModel:
        """Fetch ``spec`` (from ``source``, or its sources in order) unless already cached."""
        with self._locked(spec):
            if not force and source is None and self.verify(spec) is CacheState.VERIFIED:
                return self._cached(spec)
            reasons: list[str] = []
            for candidate in [source] if source is not None else self.sources(spec):
                try:
                    return self._install(spec, candidate)
                except SourceUnavailable as exc:
                    logger.info("model source unavailable: %s", exc)
                    reasons.append(str(exc))
            raise ModelUnavailable(spec, reasons)

    def _install(self, spec: ModelSpec, source: ResolvedSource) -> CachedModel:
        directory = self.directory(spec)
        directory.mkdir(parents=True, exist_ok=True)
        described = source.describe()
        logger.info("fetching %s %s from %s", spec.name, spec.version, described)
        fd, name = tempfile.mkstemp(dir=directory, prefix=".model.", suffix=".part")
        part = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                writer = _HashingWriter(out)
                fetch(source, writer, self._context)
                out.flush()
                os.fsync(out.fileno())
            actual = writer.hexdigest()
            if writer.size != spec.size or actual != spec.sha256:
                raise ChecksumMismatch(spec, described, actual, writer.size)
            os.replace(part, self.path(spec))
        finally:
            part.unlink(missing_ok=True)
        metadata = {
            "name": spec.name,
            "version": spec.version,
            "sha256": spec.sha256,
            "size": spec.size,
            "source": described,
            "fetched_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        _write_atomically(directory / METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
        _fsync_directory(directory)
        logger.info("installed %s %s from %s", spec.name, spec.version, described)
        return CachedModel(spec, self.path(spec), metadata)

    def _cached(self, spec: ModelSpec) -> CachedModel:
        return CachedModel(spec, self.path(spec), self.metadata(spec) or {})

    @contextmanager
    def _locked(self, spec: ModelSpec) -> Iterator[None]:
        directory = self.directory(spec)
        directory.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self._lock_timeout_s
        with (directory / ".lock").open("a") as lock:
            waited = False
            while True:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise CacheLockTimeout(
                            f"{spec.name} {spec.version}: another process holds "
                            f"{directory / '.lock'} for more than {self._lock_timeout_s:.0f} s"
                        ) from None
                    if not waited:
                        logger.info("waiting for another process fetching %s", spec.name)
                        waited = True
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
