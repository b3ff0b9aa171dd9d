"""Publishing a cached model to the object store, so a cluster of workers can pull it there."""

from __future__ import annotations

from minio import Minio
from minio.error import S3Error

from services.processor.models.cache import CacheState, ModelCache, ModelCacheError
from services.processor.models.registry import ModelSpec


def mirror_key(spec: ModelSpec) -> str:
    """The object key the registry's ``s3`` sources expect."""
    return f"{spec.name}/{spec.version}/model.onnx"


def push(cache: ModelCache, spec: ModelSpec, client: Minio, bucket: str) -> str:
    """Upload the verified cached file of ``spec``; return its ``s3://`` URL.

    The file is re-hashed first, so a corrupt cache is never spread to other workers.
    """
    if cache.verify(spec) is not CacheState.VERIFIED:
        raise ModelCacheError(
            f"{spec.name} {spec.version} is not in the cache with sha256 {spec.sha256}; "
            "run `clearcut models pull` first"
        )
    try:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    key = mirror_key(spec)
    client.fput_object(
        bucket,
        key,
        str(cache.path(spec)),
        content_type="application/octet-stream",
        metadata={"sha256": spec.sha256, "model-version": spec.version},
    )
    return f"s3://{bucket}/{key}"
