"""remove.bg's synchronous `POST /v1.0/removebg` over the asynchronous pipeline.

1. The image (bytes, base64, or fetched from `image_url`) is accepted as an ordinary upload
   of the key's owner (`UploadService.accept`): stored, `ImageUploaded` published, in the
   owner's history, traces and usage like any other.
2. The request waits for the task's ProcessingCompleted or final ProcessingFailed on the
   event stream (`Outcomes`, fed by the API process's own group-less consumer), at most
   `REMOVEBG_TIMEOUT_SECONDS`, holding one of `REMOVEBG_MAX_WAITING` slots.
3. The cut-out is read from the object store (an `ImageDownloaded` is published, as for
   any download) and rendered as asked (`domain/removebg_render.py`) in the thread pool.

Nothing is left half-stored: when the request fails after its upload was accepted (the
processing failed, timed out, or the request was cancelled), the image is deleted again
(`ImageDeleted`, so its original and results are purged) before the error is answered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from schemas import ProcessingCompleted, ProcessingFailed, ResultKind
from services.upload.adapters.blob_store import MinioBlobStore
from services.upload.adapters.errors import Unavailable
from services.upload.adapters.url_fetch import UrlFetcher
from services.upload.deletions import DeletionService
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.foreground import box_in_result
from services.upload.domain.removebg import RemoveBgRequest, credits_charged
from services.upload.domain.removebg_render import Rendered, render
from services.upload.images import ImageQueries, ResultObjectRef
from services.upload.uploads import Admission, UploadService
from services.upload.waiting import Outcomes

logger = logging.getLogger(__name__)
_FEED_WAIT_SECONDS = 5.0
IMAGE_REASONS = ("image_undecodable", "image_unsupported", "image_missing")


@dataclass(frozen=True)
class RemoveBgAnswer:
    image_id: str
    rendered: Rendered
    credits: float
    foreground_type: str


class RemoveBgService:
    def __init__(
        self,
        *,
        uploads: UploadService,
        outcomes: Outcomes,
        deletions: DeletionService,
        images: ImageQueries,
        blobs: MinioBlobStore,
        executor: Executor,
        fetcher: UrlFetcher | None,
        timeout: float,
        max_bytes: int,
        ready: asyncio.Event,
    ) -> None:
        self._uploads = uploads
        self._outcomes = outcomes
        self._deletions = deletions
        self._images = images
        self._blobs = blobs
        self._executor = executor
        self._fetcher = fetcher
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._ready = ready

    @property
    def max_waiting(self) -> int:
        return self._outcomes.max_waiting

    async def fetch_url(self, url: str) -> bytes:
        if self._fetcher is None:
            raise Rejected(
                ErrorCode.IMAGE_URL_DISABLED,
                "image_url is not enabled on this server; send image_file or image_file_b64",
            )
        return await self._fetcher.fetch(url)

    def decode_b64(self, text: str) -> bytes:
        # A data URL's prefix is tolerated, as clients that read files in a browser send it.
        if text.startswith("data:") and "," in text:
            text = text.split(",", 1)[1]
        if len(text) > (self._max_bytes // 3 + 1) * 4 + 4096:
            raise Rejected(
                ErrorCode.BODY_TOO_LARGE,
                f"the image is larger than the limit of {self._max_bytes} bytes",
                max_bytes=self._max_bytes,
            )
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise Rejected(
                ErrorCode.INVALID_OPTION, "image_file_b64 is not base64", option="image_file_b64"
            ) from None
        if len(data) > self._max_bytes:
            raise Rejected(
                ErrorCode.BODY_TOO_LARGE,
                f"the image is larger than the limit of {self._max_bytes} bytes",
                max_bytes=self._max_bytes,
            )
        return data

    async def remove(
        self,
        owner: str,
        image: bytes,
        request: RemoveBgRequest,
        admission: Admission | None = None,
    ) -> RemoveBgAnswer:
        """Upload (charged to the key's limits through `admission`), wait, render; `Busy`
        when too many requests wait already."""
        if not image:
            raise Rejected(ErrorCode.EMPTY_BODY, "the image is empty")
        with self._outcomes.slot():
            if not self._ready.is_set():
                try:
                    await asyncio.wait_for(self._ready.wait(), _FEED_WAIT_SECONDS)
                except TimeoutError:
                    raise Unavailable("kafka", "the outcome feed is not consuming") from None
            accepted = await self._uploads.accept(
                owner, image, request.options, admission=admission
            )
            event = accepted.event
            try:
                outcome = await self._outcomes.wait(event.task_id, self._timeout)
                if isinstance(outcome, ProcessingFailed):
                    raise _failure(outcome)
                return await self._answer(
                    owner, event.original.width, event.original.height, outcome, request
                )
            except TimeoutError:
                await asyncio.shield(self._discard(owner, event.image_id, "timed out"))
                raise Rejected(
                    ErrorCode.PROCESSING_TIMEOUT,
                    f"the image was not processed within {self._timeout:g} s; nothing was "
                    "kept, try again later",
                    timeout_seconds=self._timeout,
                ) from None
            except BaseException as exc:
                await asyncio.shield(self._discard(owner, event.image_id, type(exc).__name__))
                raise

    async def _answer(
        self,
        owner: str,
        width: int,
        height: int,
        outcome: ProcessingCompleted,
        request: RemoveBgRequest,
    ) -> RemoveBgAnswer:
        cutout = next(r for r in outcome.results if r.kind is ResultKind.CUTOUT)
        data = await self._blobs.read(cutout.bucket, cutout.key)
        ref = ResultObjectRef(
            task_id=outcome.task_id,
            kind=ResultKind.CUTOUT,
            bucket=cutout.bucket,
            key=cutout.key,
            content_type=cutout.content_type,
            size=cutout.size,
        )
        await self._images.record_download(owner, outcome.image_id, ref)
        options = request.options
        box = box_in_result(
            None if outcome.foreground is None else outcome.foreground.model_dump(),
            (width, height),
            (cutout.width, cutout.height),
            {"crop": options.crop, "crop_margin": options.crop_margin},
        )
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(self._executor, render, data, box, request)
        foreground_type = "other" if request.foreground_type == "auto" else request.foreground_type
        return RemoveBgAnswer(
            outcome.image_id,
            rendered,
            credits_charged(rendered.width, rendered.height),
            foreground_type,
        )

    async def _discard(self, owner: str, image_id: str, why: str) -> None:
        try:
            await self._deletions.delete(
                owner, image_id, reason=f"synchronous remove.bg request failed: {why}"
            )
        except Exception:
            # The image stays in the owner's history; it is complete, not half-stored.
            logger.warning(
                "could not delete image %s after a failed request", image_id, exc_info=True
            )


def _failure(outcome: ProcessingFailed) -> Rejected:
    if outcome.reason.value in IMAGE_REASONS:
        return Rejected(
            ErrorCode.PROCESSING_FAILED,
            f"the image could not be processed: {outcome.message}",
            reason=outcome.reason.value,
        )
    return Rejected(
        ErrorCode.INTERNAL_ERROR,
        f"processing failed ({outcome.reason.value}); nothing was kept, try again later",
        reason=outcome.reason.value,
    )
