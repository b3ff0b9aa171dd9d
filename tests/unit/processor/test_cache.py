"""The model cache with local-file sources: verify, install atomically, refuse, lock."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from services.common.settings import S3Settings
from services.processor.models.cache import (
    CacheState,
    ChecksumMismatch,
    ModelCache,
    ModelUnavailable,
)
from services.processor.models.registry import ModelSpec, ResolvedSource, SourceKind, SourceSpec
from services.processor.models.sources import FetchContext, Writer
from services.processor.models.sources import fetch as real_fetch

CONTENT = b"pretend this is an ONNX model" * 100


def _spec(*locations: str, content: bytes = CONTENT) -> ModelSpec:
    return ModelSpec(
        name="tiny",
        version="1",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        input_size=(4, 4),
        mean=(0.5, 0.5, 0.5),
        std=(1.0, 1.0, 1.0),
        sources=tuple(SourceSpec(kind=SourceKind.FILE, location=loc) for loc in locations),
    )


def _cache(root: Path, model_dir: str = "") -> ModelCache:
    context = FetchContext(s3=S3Settings(), workdir=root)
    return ModelCache(root / "cache", {"model_dir": model_dir}, context, lock_timeout_s=5)


def test_pull_installs_the_file_with_its_metadata(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "m.onnx").write_bytes(CONTENT)
    cache = _cache(tmp_path, str(tmp_path / "mirror"))
    spec = _spec("{model_dir}/absent.onnx", "{model_dir}/m.onnx")
    assert cache.quick_state(spec) is CacheState.MISSING
    cached = cache.pull(spec)
    assert cached.path == tmp_path / "cache" / "tiny" / "1" / "model.onnx"
    assert cached.path.read_bytes() == CONTENT
    metadata = json.loads((cached.path.parent / "model.json").read_text())
    assert metadata["sha256"] == spec.sha256
    assert metadata["size"] == len(CONTENT)
    assert metadata["source"] == f"file:{tmp_path / 'mirror' / 'm.onnx'}"
    assert metadata["fetched_at"].endswith("Z")
    assert cache.quick_state(spec) is CacheState.VERIFIED
    assert cache.verify(spec) is CacheState.VERIFIED
    assert sorted(p.name for p in cached.path.parent.iterdir()) == [
        ".lock",
        "model.json",
        "model.onnx",
    ], "no temporary file may be left behind"


def test_a_wrong_sha256_is_an_error_naming_the_source_and_installs_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.onnx").write_bytes(CONTENT + b"tampered")
    (tmp_path / "good.onnx").write_bytes(CONTENT)
    cache = _cache(tmp_path, str(tmp_path))
    spec = _spec("{model_dir}/bad.onnx", "{model_dir}/good.onnx")
    with pytest.raises(ChecksumMismatch) as caught:
        cache.pull(spec)
    assert str(tmp_path / "bad.onnx") in str(caught.value)
    assert "nothing was installed" in str(caught.value)
    assert not cache.path(spec).exists(), "the next source must not be tried silently"
    assert [p.name for p in cache.directory(spec).iterdir()] == [".lock"]


def test_no_source_with_the_file_is_unavailable_and_retriable(tmp_path: Path) -> None:
    cache = _cache(tmp_path, str(tmp_path))
    spec = _spec("{model_dir}/a.onnx", "{model_mirror}/unset.onnx")
    with pytest.raises(ModelUnavailable) as caught:
        cache.pull(spec)
    assert caught.value.retriable
    assert len(caught.value.reasons) == 1 and "a.onnx" in caught.value.reasons[0]


def test_an_explicit_source_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "other.onnx").write_bytes(b"another model")
    cache = _cache(tmp_path)
    source = ResolvedSource(kind=SourceKind.FILE, location=str(tmp_path / "other.onnx"))
    with pytest.raises(ChecksumMismatch):
        cache.pull(_spec("/unused"), source=source)


def test_a_corrupted_cache_is_detected_and_fetched_again(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(CONTENT)
    cache = _cache(tmp_path, str(tmp_path))
    spec = _spec("{model_dir}/m.onnx")
    path = cache.pull(spec).path
    path.write_bytes(b"X" * len(CONTENT))  # same size, other bytes: only a hash tells
    assert cache.quick_state(spec) is CacheState.VERIFIED
    assert cache.verify(spec) is CacheState.CORRUPT
    assert cache.ensure(spec).path.read_bytes() == CONTENT
    assert cache.verify(spec) is CacheState.VERIFIED


def test_two_pulls_at_once_fetch_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.onnx").write_bytes(CONTENT)
    cache = _cache(tmp_path, str(tmp_path))
    spec = _spec("{model_dir}/m.onnx")
    fetches: list[str] = []
    entered = threading.Event()
    release = threading.Event()

    def slow_fetch(source: ResolvedSource, out: Writer, context: FetchContext) -> None:
        fetches.append(source.location)
        entered.set()
        assert release.wait(5)
        real_fetch(source, out, context)

    monkeypatch.setattr("services.processor.models.cache.fetch", slow_fetch)
    results: list[Path] = []
    first = threading.Thread(target=lambda: results.append(cache.pull(spec).path))
    second = threading.Thread(target=lambda: results.append(cache.pull(spec).path))
    first.start()
    assert entered.wait(5)
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert len(results) == 2 and results[0] == results[1]
    assert len(fetches) == 1, "the second pull must find the file the first installed"
