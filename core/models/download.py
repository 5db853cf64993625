"""Download one file over HTTP into a folder: resumable, verified, cancellable, renamed atomically.

Bytes go to `NAME.part` beside the final name. A later attempt asks for the rest with a Range
request; a server that answers 200 instead of 206 sends the whole file, so the part is truncated
and the transfer starts from zero. The sha256 is computed while writing (a resumed part is hashed
once from disk first) and compared with the catalog's hash or, when the catalog has none, with
the one the server announces (Hugging Face puts an LFS file's sha256 in `X-Linked-Etag`, or in a
strong `ETag`); with neither, the result says the file is unverified rather than pretend. A
wrong size or hash removes the file. The cancel event is checked between chunks, so pausing
keeps the part for resuming. The client is httpx2 (the maintained httpx fork huggingface_hub
uses): huggingface_hub's own downloader is tied to Hub repo ids and has no cancel between chunks.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2

from core.models.catalog import ModelFile
from core.models.errors import Cancelled, DownloadError, VerificationError

ProgressFn = Callable[[int, int], None]
"""(bytes of this file on disk, the file's size): called after every chunk, on the download thread."""

CHUNK_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class RemoteInfo:
    """What the server says about a file before the download: its size and announced sha256, if any."""

    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    sha256: str  # of the bytes on disk
    verified_by: str | None  # "catalog" or "server": whose hash it matched; None: no hash was known


def open_client() -> httpx2.Client:
    """An HTTP client for downloads: generous read timeout, redirects followed per request."""
    return httpx2.Client(timeout=httpx2.Timeout(60.0, connect=20.0), headers={"User-Agent": "spyglass"})


def part_path(final: Path) -> Path:
    return final.with_name(final.name + ".part")


def download_file(
    client: httpx2.Client,
    spec: ModelFile,
    folder: Path,
    *,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    attempts: int = 3,
    chunk_bytes: int = CHUNK_BYTES,
) -> DownloadedFile:
    """Fetch `spec` into `folder / spec.name`, resuming a `.part` left by an earlier attempt.

    A broken connection is resumed up to `attempts` times in all. Raises `Cancelled` (part kept),
    `VerificationError` (file removed) or `DownloadError` (part kept: calling again resumes).
    """
    cancel = cancel or threading.Event()
    final = folder / spec.name
    remote = probe(client, spec.url)
    if remote.size is not None and remote.size != spec.size:
        raise VerificationError(
            f"{spec.name} on the server is {remote.size} bytes but the catalog says {spec.size}; "
            "the catalog entry is out of date, so nothing was downloaded."
        )
    expected, by = (spec.sha256, "catalog") if spec.sha256 else (remote.sha256, "server" if remote.sha256 else None)
    if final.exists() and (done := _already_there(final, spec, expected, by, cancel)) is not None:
        return done
    for attempt in range(1, attempts + 1):
        try:
            digest, announced = _fetch(client, spec, part_path(final), progress, cancel, chunk_bytes)
            break
        except httpx2.TransportError as err:
            if attempt == attempts:
                raise _broken(spec, part_path(final), err) from err
        except VerificationError:
            part_path(final).unlink(missing_ok=True)
            raise
    if expected is None and announced is not None:
        expected, by = announced, "server"
    _check_hash(part_path(final), spec.name, digest, expected, by)
    os.replace(part_path(final), final)
    return DownloadedFile(final, digest, by if expected else None)


def probe(client: httpx2.Client, url: str) -> RemoteInfo:
    """HEAD `url` without following redirects: Hugging Face answers the resolve URL with the LFS size and hash."""
    try:
        answer = client.head(url, follow_redirects=False)
    except httpx2.TransportError as err:
        raise DownloadError(
            f"Cannot reach {urlsplit(url).hostname}: {err or type(err).__name__}. "
            "Check the network connection and try again."
        ) from err
    if answer.status_code in (405, 501):  # no HEAD here: learn what we can from the GET
        return RemoteInfo(None, None)
    if answer.status_code >= 400:
        raise DownloadError(f"{url} answered HTTP {answer.status_code}; the catalog entry may be out of date.")
    size = answer.headers.get("x-linked-size") or (
        answer.headers.get("content-length") if answer.status_code == 200 else None
    )
    return RemoteInfo(int(size) if size and size.isdigit() else None, announced_sha256(answer.headers))


def announced_sha256(headers: Mapping[str, str]) -> str | None:
    """The sha256 a server states for the file: `X-Linked-Etag`, else a strong `ETag`, when 64 hex digits."""
    for key in ("x-linked-etag", "etag"):
        value = headers.get(key, "").strip()
        if value.startswith("W/"):  # a weak tag promises no byte-exact content
            continue
        value = value.strip('"').lower()
        if _SHA256.fullmatch(value):
            return value
    return None


def sha256_of(path: Path, cancel: threading.Event | None = None, chunk_bytes: int = CHUNK_BYTES) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk_bytes):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"Stopped while checking {path.name}.")
            digest.update(block)
    return digest


def _already_there(
    final: Path, spec: ModelFile, expected: str | None, by: str | None, cancel: threading.Event
) -> DownloadedFile | None:
    """The final file from an earlier download when it is whole and matches; otherwise removed."""
    if final.stat().st_size == spec.size:
        digest = sha256_of(final, cancel).hexdigest()
        if expected is None or digest == expected:
            return DownloadedFile(final, digest, by if expected else None)
    final.unlink()
    return None


def _fetch(
    client: httpx2.Client,
    spec: ModelFile,
    part: Path,
    progress: ProgressFn | None,
    cancel: threading.Event,
    chunk_bytes: int,
) -> tuple[str, str | None]:
    """Bring `part` to the full file; returns its sha256 and the hash the GET announced."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > spec.size:
        part.unlink()
        offset = 0
    digest = sha256_of(part, cancel) if offset else hashlib.sha256()
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", spec.url, headers=headers, follow_redirects=True) as answer:
        if answer.status_code == 416 and offset == spec.size:  # the part is already whole
            return digest.hexdigest(), announced_sha256(answer.headers)
        start = _start_of(answer, offset, spec)
        if start == 0 and offset:
            digest = hashlib.sha256()
        with part.open("r+b" if part.exists() else "wb") as out:
            out.seek(start)
            out.truncate()
            size = _write_body(answer, out, digest, start, spec, progress, cancel, chunk_bytes)
            out.flush()
            os.fsync(out.fileno())
    if size != spec.size:
        raise _broken(spec, part, None)
    return digest.hexdigest(), announced_sha256(answer.headers)


def _start_of(answer: httpx2.Response, offset: int, spec: ModelFile) -> int:
    """Where the body starts in the file: the range asked for (206) or zero (200, the whole file)."""
    if answer.status_code == 200:
        return 0
    if answer.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(answer.headers.get("content-range", "").strip())
        if match and int(match.group(1)) == offset:
            return offset
        raise DownloadError(
            f"The server sent the wrong part of {spec.name} "
            f"({answer.headers.get('content-range')!r} for bytes {offset}-); try again later."
        )
    raise DownloadError(
        f"{spec.url} answered HTTP {answer.status_code}; try again later, or the catalog entry may be out of date."
    )


def _write_body(
    answer: httpx2.Response,
    out,
    digest,
    size: int,
    spec: ModelFile,
    progress: ProgressFn | None,
    cancel: threading.Event,
    chunk_bytes: int,
) -> int:
    """Append the body to `out` chunk by chunk, checking `cancel` before each; returns the size on disk."""
    for chunk in answer.iter_bytes(chunk_bytes):
        if cancel.is_set():
            raise Cancelled(f"Paused {spec.name} at {size} of {spec.size} bytes.")
        if size + len(chunk) > spec.size:
            raise VerificationError(
                f"The server sent more than the {spec.size} bytes of {spec.name}; the catalog entry is out of date."
            )
        out.write(chunk)
        digest.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(size, spec.size)
    return size


def _check_hash(part: Path, name: str, digest: str, expected: str | None, by: str | None) -> None:
    if expected is not None and digest != expected:
        part.unlink(missing_ok=True)
        raise VerificationError(
            f"{name} is not the expected file: its sha256 is {digest}, the {by} says {expected}. "
            "It was removed; download it again, and if this repeats the catalog entry is wrong."
        )


def _broken(spec: ModelFile, part: Path, err: Exception | None) -> DownloadError:
    have = part.stat().st_size if part.exists() else 0
    why = f" ({err or type(err).__name__})" if err is not None else ""
    return DownloadError(
        f"The connection broke after {have} of {spec.size} bytes of {spec.name}{why}. "
        "Download again to resume where it stopped."
    )
