"""rembg (PyPI) on the same ISNet file as the processor, with no download possible.

rembg's ``dis_custom`` session is its session for custom ISNet/DIS models: the same
preprocessing as its built-in ``isnet-general-use`` (Lanczos resize to 1024x1024, division
by the image's maximum, mean 0.5, std 1) and the same post-processing (min-max, Lanczos
resize back); ``u2net_custom`` would feed the model U2-Net's 320x320 input and ImageNet
normalisation, which is wrong for ISNet. rembg accepts a custom ``model_path`` only under
its home folder, so the session is created with ``REMBG_HOME`` pointing at the folder that
holds our model cache entry. Its downloader (``pooch.retrieve``) is replaced by a function
that raises while the session exists, so nothing is fetched at run time.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class DownloadAttempted(RuntimeError):
    pass


def _refuse(*args: object, **kwargs: object) -> None:
    raise DownloadAttempted(f"rembg tried to download {args[:1]}: not allowed in the bench")


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    pooch: Any = importlib.import_module("pooch")
    original = pooch.retrieve
    pooch.retrieve = _refuse
    try:
        yield
    finally:
        pooch.retrieve = original


class TimedRun:
    """Wraps the ONNX Runtime session inside rembg to time its ``run`` calls."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.last_seconds = 0.0

    def run(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._inner.run(*args, **kwargs)
        finally:
            self.last_seconds = time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def new_session(name: str, model_path: Path) -> Any:
    """rembg's session ``name`` on our model file: ``REMBG_HOME`` at the file's folder while
    it is created, downloads refused."""
    rembg = importlib.import_module("rembg")
    saved = os.environ.get("REMBG_HOME")
    os.environ["REMBG_HOME"] = str(model_path.parent)
    try:
        with no_downloads():
            return rembg.new_session(name, model_path=str(model_path))
    finally:
        if saved is None:
            os.environ.pop("REMBG_HOME", None)
        else:
            os.environ["REMBG_HOME"] = saved


def rembg_version() -> str:
    version: str = importlib.import_module("importlib.metadata").version("rembg")
    return version


class Rembg:
    """``remove(bytes) -> PNG bytes`` with rembg, timed as a whole and its inference alone."""

    def __init__(self, model_path: Path) -> None:
        self.version = rembg_version()
        self._remove = importlib.import_module("rembg").remove
        session = new_session("dis_custom", model_path)
        self._timer = TimedRun(session.inner_session)
        session.inner_session = self._timer
        self._session = session

    def remove(self, body: bytes) -> tuple[bytes, float, float]:
        """The cut-out PNG, the seconds it took, and the seconds of its inference."""
        started = time.perf_counter()
        cutout: bytes = self._remove(body, session=self._session)
        return cutout, time.perf_counter() - started, self._timer.last_seconds
