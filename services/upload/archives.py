"""Several results as one ZIP: each image's cut-out (and mask) read from the object store
into a spooled temporary file, one ImageDownloaded per file."""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from concurrent.futures import Executor
from typing import IO

from schemas import ResultKind
from services.upload.domain.archive import entry_names
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.images import ImageQueries, ResultObjectRef
from services.upload.ports import BlobStore, BlobStream

MAX_ARCHIVE_IMAGES = 100
_SPOOL_BYTES = 16 * 1024 * 1024


class ArchiveService:
    def __init__(self, images: ImageQueries, blobs: BlobStore, executor: Executor) -> None:
        self._images = images
        self._blobs = blobs
        self._executor = executor

    async def build(
        self, owner: str, items: list[tuple[str, str | None]], masks: bool
    ) -> tuple[IO[bytes], int]:
        """The ZIP (rewound) and its size. Every image must be the owner's and completed:
        404 / 409 `result_not_ready` name the first that is not, and nothing is read."""
        if not items:
            raise Rejected(ErrorCode.INVALID_OPTION, "give at least one image", option="images")
        if len(items) > MAX_ARCHIVE_IMAGES:
            raise Rejected(
                ErrorCode.INVALID_OPTION,
                f"{len(items)} images asked; one archive holds at most {MAX_ARCHIVE_IMAGES}",
                option="images",
            )
        kinds = [ResultKind.CUTOUT, ResultKind.MASK] if masks else [ResultKind.CUTOUT]
        refs: dict[tuple[str, ResultKind], ResultObjectRef] = {}
        for image_id, _ in items:
            for kind in kinds:
                refs[(image_id, kind)] = await self._images.result(owner, image_id, kind)
        extensions = {
            image_id: "webp" if ref.content_type == "image/webp" else "png"
            for (image_id, kind), ref in refs.items()
            if kind is ResultKind.CUTOUT
        }
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
        loop = asyncio.get_running_loop()
        try:
            with zipfile.ZipFile(spool, "w", zipfile.ZIP_STORED) as archive:
                for image_id, kind, name in entry_names(items, kinds, extensions):
                    ref = refs[(image_id, kind)]
                    stream = await self._blobs.open(ref.bucket, ref.key)
                    await loop.run_in_executor(self._executor, _copy, stream, archive, name)
                    await self._images.record_download(owner, image_id, ref)
            size = spool.tell()
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool, size


def _copy(stream: BlobStream, archive: zipfile.ZipFile, name: str) -> None:
    try:
        # Results are PNG or WebP, compressed already: stored, not deflated again.
        with archive.open(name, "w", force_zip64=stream.size > 2**31) as entry:
            for chunk in stream.chunks:
                entry.write(chunk)
    finally:
        stream.close()
