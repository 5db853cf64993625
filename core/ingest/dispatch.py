"""`ingest_path`: the one entry point from a dropped file to parts.

It reads the first bytes, picks the reader from them (never from the name), applies the checks
that need no decoder (missing, empty, unknown content, a page range for a file without pages),
then runs the reader in the sandbox, so a hostile file costs a typed error within the time bound.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from core.ingest.errors import BadPageRange, EmptyFile, UnreadableFile, UnsupportedFormat
from core.ingest.images import read_image
from core.ingest.limits import Limits
from core.ingest.pdf import read_pdf
from core.ingest.progress import Ingested, IngestProgress
from core.ingest.sandbox import run_bounded
from core.ingest.sniff import HEAD_BYTES, sniff
from core.ingest.video import read_video


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
    kind = _kind_of(path)
    if pages is not None and kind != "pdf":
        raise BadPageRange(path, f"a page range was given, but the file is a {kind}, which has no pages")
    reader: Callable[..., Ingested]
    args: tuple
    if kind == "pdf":
        reader, args = read_pdf, (path, limits, pages)
    else:
        reader, args = (read_image if kind == "image" else read_video), (path, limits)
    return run_bounded(reader, args, path=path, limits=limits, on_progress=on_progress, cancel=cancel)


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
    try:
        with open(path, "rb") as file:
            return file.read(HEAD_BYTES)
    except OSError as error:
        raise UnreadableFile(path, f"the file cannot be opened ({error.strerror or error})") from None
