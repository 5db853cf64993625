"""`ingest_path`: the one entry point from a dropped file to parts.

The caller's thread only asks the file system what the path is (`os.stat`, which never blocks on
a pipe) and refuses anything but a regular file: a named pipe with no writer would block the
first read for good, where no time bound or cancel could reach it. Every read happens in the
sandbox's child: `read_any` sniffs the first bytes, picks the reader from them (never from the
name), applies the checks that need no decoder (empty, unknown content, a page range for a file
without pages) and runs the reader, so a hostile file costs a typed error within the time bound.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable

from core.ingest.errors import BadPageRange, EmptyFile, UnreadableFile, UnsupportedFormat
from core.ingest.images import read_image
from core.ingest.limits import Limits
from core.ingest.pdf import read_pdf
from core.ingest.progress import Ingested, IngestProgress, Reporter
from core.ingest.sandbox import run_bounded
from core.ingest.sniff import HEAD_BYTES, sniff
from core.ingest.video import read_video

_NOT_A_FILE = (
    (stat.S_ISDIR, "it is a folder, not a file"),
    (stat.S_ISFIFO, "it is a named pipe (FIFO), not a regular file; save what it carries to a file and add that"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
    (stat.S_ISCHR, "it is a device, not a regular file"),
    (stat.S_ISBLK, "it is a device, not a regular file"),
)


def ingest_path(
    path,
    *,
    limits: Limits | None = None,
    pages: range | None = None,
    on_progress: Callable[[IngestProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Ingested:
    """Read a PDF, image or video into parts, in a time- and memory-bounded child process.

    `pages` (PDF only) holds 1-based page numbers, e.g. `range(3, 6)` for pages 3 to 5.
    `on_progress` is called in the calling thread after each page or frame; setting `cancel`
    stops the work between pages and raises `Cancelled`. Every failure is an `IngestError`.
    """
    path = os.fspath(path)
    limits = limits or Limits()
    _check_regular(path, _stat(path).st_mode)
    return run_bounded(
        read_any, (path, limits, pages), path=path, limits=limits, on_progress=on_progress, cancel=cancel
    )


def read_any(path: str, limits: Limits, pages: range | None, reporter: Reporter) -> Ingested:
    """In the child: the reader that the file's first bytes call for, run on the file."""
    kind = _kind_of(path)
    if pages is not None and kind != "pdf":
        raise BadPageRange(path, f"a page range was given, but the file is a {kind}, which has no pages")
    if kind == "pdf":
        return read_pdf(path, limits, pages, reporter)
    return (read_image if kind == "image" else read_video)(path, limits, reporter)


def _kind_of(path: str) -> str:
    head = _head(path)
    if not head:
        raise EmptyFile(path, "the file is empty (0 bytes)")
    sniffed = sniff(head)
    if sniffed.kind == "unknown":
        raise UnsupportedFormat(
            path, f"the content is not a PDF, image or video Spyglass reads (starts with {sniffed.format})"
        )
    return sniffed.kind


def _head(path: str) -> bytes:
    """The first bytes, opened without blocking: the path may have become a pipe since `_stat`."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise UnreadableFile(path, f"the file cannot be opened ({error.strerror or error})") from None
    with os.fdopen(fd, "rb") as file:
        _check_regular(path, os.fstat(fd).st_mode)
        return file.read(HEAD_BYTES)


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as error:
        raise UnreadableFile(path, f"the file cannot be opened ({error.strerror or error})") from None


def _check_regular(path: str, mode: int) -> None:
    for test, problem in _NOT_A_FILE:
        if test(mode):
            raise UnreadableFile(path, problem)
    if not stat.S_ISREG(mode):
        raise UnreadableFile(path, "it is not a regular file")
